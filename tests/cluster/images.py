"""The node's own images, built here since no public registry is reachable: `pause` (the pod
sandbox: a static binary that sleeps until told to stop) and `ballast-toolbox` (Debian's static
busybox: a shell and the usual tools, for tests and helper pods).

Each is packed as an OCI layout with umoci, kept under the cache directory keyed by the hash of
what goes into it, and pushed to the registry whenever the registry lacks that tag, so its
digest stays the same for as long as its inputs do.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import registry

BUSYBOX = Path("/bin/busybox")
NONROOT_UID = 65532

PAUSE_SOURCE = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }

int main(void) {
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    signal(SIGCHLD, reap);
    for (;;) pause();
}
"""

PASSWD = f"root:x:0:0:root:/root:/bin/sh\nnonroot:x:{NONROOT_UID}:{NONROOT_UID}:nonroot:/home/nonroot:/bin/sh\n"
GROUP = f"root:x:0:\nnonroot:x:{NONROOT_UID}:\n"


@dataclass(frozen=True)
class Image:
    repository: str
    key: str  # the hash of the image's inputs, which is also its tag

    @property
    def reference(self) -> str:
        return f"{registry.address()}/{self.repository}:{self.key}"


def _key(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def pause_image() -> Image:
    return Image("ballast-pause", _key(PAUSE_SOURCE.encode(), Path(__file__).read_bytes()))


def toolbox_image() -> Image:
    return Image("ballast-toolbox", _key(BUSYBOX.read_bytes(), Path(__file__).read_bytes()))


def _fill_pause(rootfs: Path, work: Path) -> list[str]:
    source = work / "pause.c"
    source.write_text(PAUSE_SOURCE)
    subprocess.run(["gcc", "-Os", "-static", "-s", "-o", str(rootfs / "pause"), str(source)], check=True)
    return ["--config.entrypoint", "/pause", "--config.user", "65535:65535"]


def _fill_toolbox(rootfs: Path, work: Path) -> list[str]:
    bin_dir = rootfs / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, bin_dir / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list"], check=True, stdout=subprocess.PIPE, text=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (bin_dir / applet).symlink_to("busybox")
    (rootfs / "etc").mkdir(exist_ok=True)
    (rootfs / "etc" / "passwd").write_text(PASSWD)
    (rootfs / "etc" / "group").write_text(GROUP)
    for writable in ("tmp", "home/nonroot"):
        (rootfs / writable).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    (rootfs / "home" / "nonroot").chmod(0o777)
    return [
        "--config.entrypoint",
        "/bin/sh",
        "--config.env",
        "PATH=/bin",
        "--config.workingdir",
        "/",
        "--config.user",
        f"{NONROOT_UID}:{NONROOT_UID}",
    ]


def _build(image: Image, fill, cache: Path) -> Path:
    """An OCI layout holding the image under its tag, built unless the cache has it."""
    layout = cache / "images" / f"{image.repository}-{image.key}"
    if (layout / "index.json").exists():
        return layout
    staging = layout.with_name(layout.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    target = f"{staging / 'oci'}:{image.key}"
    bundle = staging / "bundle"
    subprocess.run(["umoci", "init", "--layout", str(staging / "oci")], check=True)
    subprocess.run(["umoci", "new", "--image", target], check=True)
    subprocess.run(["umoci", "unpack", "--image", target, str(bundle)], check=True, stdout=subprocess.DEVNULL)
    config_flags = fill(bundle / "rootfs", staging)
    subprocess.run(["umoci", "repack", "--image", target, str(bundle)], check=True)
    subprocess.run(["umoci", "config", "--image", target, *config_flags], check=True)
    subprocess.run(["umoci", "gc", "--layout", str(staging / "oci")], check=True)
    shutil.rmtree(layout, ignore_errors=True)
    (staging / "oci").rename(layout)
    shutil.rmtree(staging)
    return layout


def _push(image: Image, layout: Path) -> None:
    if registry.manifest_digest(image.repository, image.key) is None:
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                f"oci:{layout}:{image.key}",
                f"docker://{image.reference}",
            ],
            check=True,
        )


def digest_reference(image: Image) -> str:
    """repository@sha256:…, which containerd pins (as the sandbox image) whatever the tag does."""
    return f"{registry.address()}/{image.repository}@{registry.manifest_digest(image.repository, image.key)}"


def pause_layout(cache: Path) -> Path:
    """The pause image as an OCI layout, built once: the local node's and kind's node's sandbox."""
    return _build(pause_image(), _fill_pause, cache)


def ensure_images(cache: Path) -> None:
    """Builds (once) and pushes (when the registry lacks them) the pause and toolbox images."""
    for image, fill in ((pause_image(), _fill_pause), (toolbox_image(), _fill_toolbox)):
        _push(image, _build(image, fill, cache))
