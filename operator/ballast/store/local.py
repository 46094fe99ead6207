"""The file:// backend: a directory on the PersistentVolume every Ballast pod mounts.

Write-once is enforced by the filesystem, not by a check-then-write: the content goes to a
temporary file in the destination directory and is published with os.link, which fails if
the final name exists. So a reader never sees a half-written file, two writers racing on one
key cannot overwrite each other, and the loser learns whether its bytes were the same.

Every path is checked after resolving symlinks, so a symlink planted inside the store cannot
make a read or a write land outside it (and directories are never created through one).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from ballast.store.appends import AppendDecision, committed_length, whole_lines_tail
from ballast.store.errors import ArtifactConflict, ArtifactNotFound, ArtifactOutsideStore
from ballast.store.keys import KEY_SEGMENT
from ballast.store.objects import StoredObject
from ballast.store.streams import sha256_of_stream

# os.link is refused by a few filesystems (some FUSE and SMB mounts); there a rename after an
# existence check keeps the no-partial-file guarantee and loses only the race protection.
LINK_UNSUPPORTED = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}


class LocalBackend:
    def __init__(self, root: str) -> None:
        self.root = root

    # --- paths ---------------------------------------------------------------------------

    def _real_root(self) -> str:
        return os.path.realpath(self.root)

    def _inside(self, real_path: str) -> bool:
        real_root = self._real_root()
        return real_path == real_root or real_path.startswith(real_root.rstrip(os.sep) + os.sep)

    def _checked(self, key: str) -> str:
        """The key's path, refused when it (or an existing ancestor) resolves outside the root."""
        path = os.path.join(self.root, *key.split("/"))
        if not self._inside(os.path.realpath(path)):
            raise ArtifactOutsideStore(f"{key!r} resolves outside the store root {self.root} (a symlink?)")
        return path

    def _make_parent(self, path: str, key: str) -> str:
        parent = os.path.dirname(path)
        # realpath of a not-yet-existing path resolves its existing ancestors, so a symlinked
        # ancestor is caught here before makedirs could create directories through it.
        if not self._inside(os.path.realpath(parent)):
            raise ArtifactOutsideStore(f"{key!r} resolves outside the store root {self.root} (a symlink?)")
        os.makedirs(parent, exist_ok=True)
        if not self._inside(os.path.realpath(parent)):
            raise ArtifactOutsideStore(f"{key!r} resolves outside the store root {self.root} (a symlink?)")
        return parent

    # --- reading -------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        return os.path.isfile(self._checked(key))

    def open_read(self, key: str) -> BinaryIO:
        path = self._checked(key)
        try:
            # O_NONBLOCK: opening a FIFO planted in the store would otherwise wait for a writer
            # forever, and with it the operator's handler thread
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ArtifactNotFound(f"no artifact {key!r} in the store {self.root}") from None
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.close(descriptor)
            raise ArtifactNotFound(
                f"{key!r} in the store {self.root} is not a regular file "
                "(a directory, a FIFO or a device), so it is no artifact"
            )
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")

    def size(self, key: str) -> int:
        try:
            return os.stat(self._checked(key)).st_size
        except FileNotFoundError:
            raise ArtifactNotFound(f"no artifact {key!r} in the store {self.root}") from None

    def _sha256(self, key: str) -> str:
        with self.open_read(key) as handle:
            return sha256_of_stream(handle)

    # --- writing -------------------------------------------------------------------------

    def write_once(self, key: str, chunks: Iterable[bytes]) -> bool:
        """Publishes the bytes under key; False when identical bytes were already there."""
        path = self._checked(key)
        parent = self._make_parent(path, key)
        handle, temporary = tempfile.mkstemp(dir=parent, prefix=".tmp-", suffix=".partial")
        try:
            digest = hashlib.sha256()
            with os.fdopen(handle, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            # mkstemp creates 0600; other Ballast pods (trainer, server) must be able to read.
            os.chmod(temporary, 0o644)
            return self._publish(temporary, path, key, digest.hexdigest())
        finally:
            if os.path.lexists(temporary):
                os.unlink(temporary)

    def _publish(self, temporary: str, path: str, key: str, new_digest: str) -> bool:
        try:
            os.link(temporary, path)
        except FileExistsError:
            return self._same_or_conflict(key, new_digest)
        except OSError as error:
            if error.errno not in LINK_UNSUPPORTED:
                raise
            if os.path.lexists(path):
                return self._same_or_conflict(key, new_digest)
            os.rename(temporary, path)
        self._sync_directory(os.path.dirname(path))
        return True

    def _same_or_conflict(self, key: str, new_digest: str) -> bool:
        existing = self._sha256(key)  # also refuses a planted symlink pointing outside
        if existing != new_digest:
            raise ArtifactConflict(
                f"{key!r} already exists with different content (sha256 {existing}, new {new_digest}); "
                "artifacts are written once and never rewritten"
            )
        return False

    @staticmethod
    def _sync_directory(directory: str) -> None:
        """Makes the new name durable, so a node crash cannot lose a version status already names."""
        try:
            descriptor = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(descriptor)
        except OSError:
            pass
        finally:
            os.close(descriptor)

    # --- appending ---------------------------------------------------------------------

    def append(self, key: str, decide: AppendDecision, tail_bytes: int) -> bool:
        """Under an exclusive flock of a lock file beside the log (its name starts with '.', so
        it is never a key), reads the tail, drops a torn last line, and appends what `decide`
        returns with one write, fsynced before the lock is let go."""
        path = self._checked(key)
        parent = self._make_parent(path, key)
        lock = os.open(os.path.join(parent, f".{os.path.basename(path)}.lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            created = not os.path.lexists(path)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
            with os.fdopen(descriptor, "r+b") as log:
                if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                    raise ArtifactNotFound(f"{key!r} in the store {self.root} is not a regular file")
                appended = self._append_locked(log, decide, tail_bytes)
            if created:
                self._sync_directory(parent)
            return appended
        finally:
            os.close(lock)

    @staticmethod
    def _append_locked(log: BinaryIO, decide: AppendDecision, tail_bytes: int) -> bool:
        size = os.fstat(log.fileno()).st_size
        start = max(0, size - tail_bytes)
        log.seek(start)
        tail = log.read()
        length = committed_length(tail, size)
        if length != size:
            log.truncate(length)
            tail = tail[: max(0, length - start)]
        addition = decide(whole_lines_tail(tail, start == 0))
        if addition is None:
            return False
        log.seek(length)
        log.write(addition)
        log.flush()
        os.fsync(log.fileno())
        return True

    # --- listing and deleting ------------------------------------------------------------

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Regular files under the prefix, never through a symlink; temporary files (a leading
        '.') and names that are not key segments are not objects of the store."""
        top = self._checked(prefix) if prefix else self.root
        if not os.path.isdir(top) or os.path.islink(top):
            return
        for directory, subdirectories, files in os.walk(top, followlinks=False):
            subdirectories[:] = [name for name in subdirectories if KEY_SEGMENT.match(name)]
            relative = os.path.relpath(directory, self.root)
            for name in files:
                path = os.path.join(directory, name)
                if not KEY_SEGMENT.match(name):
                    continue
                info = os.lstat(path)
                if not stat.S_ISREG(info.st_mode):
                    continue
                key = name if relative == "." else "/".join([*relative.split(os.sep), name])
                yield StoredObject(key=key, size=info.st_size, modified=datetime.fromtimestamp(info.st_mtime, UTC))

    def directories(self, prefix: str) -> list[str]:
        """The subdirectories directly under the prefix whose names are key segments; a symlink
        is never one (as list never follows one)."""
        top = self._checked(prefix) if prefix else self.root
        if not os.path.isdir(top) or os.path.islink(top):
            return []
        with os.scandir(top) as entries:
            return sorted(
                entry.name for entry in entries if KEY_SEGMENT.match(entry.name) and entry.is_dir(follow_symlinks=False)
            )

    def delete(self, key: str) -> bool:
        """Unlinks the object (a symlink planted in its place is removed, never followed) and
        the directories it leaves empty, up to the root."""
        path = os.path.join(self.root, *key.split("/"))
        if not self._inside(os.path.realpath(os.path.dirname(path))):
            raise ArtifactOutsideStore(f"{key!r} resolves outside the store root {self.root} (a symlink?)")
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except IsADirectoryError:
            raise ArtifactNotFound(f"{key!r} in the store {self.root} is a directory, not an artifact") from None
        self._sync_directory(os.path.dirname(path))
        parent = os.path.dirname(path)
        while parent != self.root.rstrip(os.sep) and self._inside(os.path.realpath(parent)):
            try:
                os.rmdir(parent)
            except OSError:
                break
            parent = os.path.dirname(parent)
        return True
