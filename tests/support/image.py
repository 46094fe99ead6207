"""The image every pod of the tests and the demo runs: Ballast's own, named by digest."""

from __future__ import annotations

import functools
import os
import subprocess
import sys

from tests.support.kube import REPO

IMAGE_SCRIPT = REPO / "scripts" / "image.sh"


@functools.cache
def ballast_image() -> str:
    """$BALLAST_IMAGE when set (another cluster, which pulls it from its own registry); else the
    image `make image` builds here, pushed to the local cluster's registry: `host:port/ballast@sha256:…`.
    Built once per call site's process; a warm build with nothing changed takes seconds."""
    explicit = os.environ.get("BALLAST_IMAGE")
    if explicit:
        return explicit
    sys.path.insert(0, str(REPO / "tests" / "cluster"))
    import localcluster

    registry = localcluster.registry_address()
    subprocess.run(["bash", str(IMAGE_SCRIPT), "build"], check=True, stdout=sys.stderr)
    pushed = subprocess.run(["bash", str(IMAGE_SCRIPT), "push", registry], check=True,
                            stdout=subprocess.PIPE, text=True)
    return pushed.stdout.strip().splitlines()[-1]


def image_digest(reference: str) -> str | None:
    """sha256:… of a by-digest reference (what a pod's status.containerStatuses[].imageID ends
    with); None for one named by tag, as an image loaded into kind is."""
    _, at, digest = reference.partition("@")
    return digest if at and digest.startswith("sha256:") else None
