"""Writes a volume's files so that a reader never sees half an update: the kubelet's
AtomicWriter layout (files live in a timestamped directory that the `..data` symlink names;
each top-level entry is a symlink through `..data`), swapped with one rename."""

from __future__ import annotations

import datetime
import os
import shutil
from pathlib import Path

Payload = dict[str, tuple[bytes, int]]  # relative path -> (content, file mode)

DATA_LINK = "..data"


def current_payload(target: Path) -> Payload | None:
    """What is written now, to skip rewrites that would change nothing."""
    data = target / DATA_LINK
    if not data.is_symlink():
        return None
    base = data.resolve()
    found: Payload = {}
    for root, _dirs, files in os.walk(base):
        for name in files:
            path = Path(root) / name
            found[str(path.relative_to(base))] = (path.read_bytes(), path.stat().st_mode & 0o7777)
    return found


def write_atomically(target: Path, payload: Payload) -> bool:
    """Makes `target` hold exactly `payload`; returns whether anything changed."""
    target.mkdir(parents=True, exist_ok=True)
    if current_payload(target) == payload:
        return False
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("..%Y_%m_%d_%H_%M_%S.%f")
    fresh = target / stamp
    fresh.mkdir()
    for relative, (content, mode) in payload.items():
        path = fresh / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.chmod(path, mode)
    os.chmod(fresh, 0o755)

    previous = (target / DATA_LINK).resolve() if (target / DATA_LINK).is_symlink() else None
    staging_link = target / "..data_tmp"
    if staging_link.is_symlink():
        staging_link.unlink()
    staging_link.symlink_to(stamp)
    os.rename(staging_link, target / DATA_LINK)

    wanted_top = {Path(relative).parts[0] for relative in payload}
    for entry in wanted_top:
        link = target / entry
        if not link.is_symlink():
            link.symlink_to(Path(DATA_LINK) / entry)
    for entry in os.listdir(target):
        if entry.startswith(".."):
            continue
        if entry not in wanted_top and (target / entry).is_symlink():
            (target / entry).unlink()
    if previous is not None and previous != fresh.resolve():
        shutil.rmtree(previous, ignore_errors=True)
    return True
