"""The image every pod of the tests and the demo runs: Ballast's own, named by digest."""

from __future__ import annotations

import functools
import os
import subprocess
import sys

from ballast.build.jobs import image_digest  # noqa: F401 - the tests compare imageIDs with it
from tests.support.kube import REPO, on_kind

IMAGE_SCRIPT = REPO / "scripts" / "image.sh"


@functools.cache
def ballast_image() -> str:
    """$BALLAST_IMAGE when set (another cluster, which pulls it from its own registry); else the
    image `make image` builds here, pushed to the local cluster's registry
    (`host:port/ballast@sha256:…`), or with CLUSTER=kind loaded into kind's node. Built once
    per process; a warm build with nothing changed takes seconds."""
    explicit = os.environ.get("BALLAST_IMAGE")
    if explicit:
        return explicit
    subprocess.run(["bash", str(IMAGE_SCRIPT), "build"], check=True, stdout=sys.stderr)
    if on_kind():  # no registry: the image goes into the node itself
        from tests.kind import kindcluster

        return kindcluster.load_image(f"localhost/ballast:{ballast_version()}")
    sys.path.insert(0, str(REPO / "tests" / "cluster"))
    import localcluster

    pushed = subprocess.run(
        ["bash", str(IMAGE_SCRIPT), "push", localcluster.registry_address()],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return pushed.stdout.strip().splitlines()[-1]


def ballast_version() -> str:
    """The package's version (pyproject.toml reads it from ballast.__version__): the tag `make
    image` gives the image."""
    from ballast import __version__

    return __version__
