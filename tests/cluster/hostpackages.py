"""The Debian packages the real node runs on, installed when missing (CI starts from a bare
machine; a developer's machine usually has them all, and then nothing runs apt)."""

from __future__ import annotations

import subprocess
import sys

NODE_PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",  # the container runtime and CNI plugins
    "umoci",
    "skopeo",  # pack and push the pause and toolbox images
    "busybox-static",
    "gcc",
    "libc6-dev",  # the toolbox's shell and tools; the pause binary
    "openssl",
    "iproute2",
    "util-linux",  # the kubelet's certificate; bridge and dummy link; mount
)


def _installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    return result.returncode == 0 and result.stdout.endswith("installed")


def ensure_packages(packages: tuple[str, ...] = NODE_PACKAGES) -> None:
    missing = [package for package in packages if not _installed(package)]
    if not missing:
        return
    print(f"localcluster: installing {' '.join(missing)}", file=sys.stderr, flush=True)
    # apt's chatter goes to stderr: `localcluster.py up` prints only the kubeconfig on stdout
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=sys.stderr, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, stdout=sys.stderr, env=env
    )
