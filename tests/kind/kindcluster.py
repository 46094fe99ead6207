"""A one-node kind cluster (KIND_EXPERIMENTAL_PROVIDER=podman) on a node image built here, for
Ballast's cluster tests and demo (CLUSTER=kind). No image is pulled: node-image.sh makes the node
image from Debian packages and the Kubernetes binaries tests/cluster/build.sh builds, and Ballast's
image is loaded into the node from scripts/image.sh's podman storage.

    from tests.kind import kindcluster
    kubeconfig = kindcluster.up()                      # builds what is missing; idempotent
    image = kindcluster.load_image("localhost/ballast:0.1.0")   # -> the reference pods use
    kindcluster.shared_store_dir()                     # host side of every `ballast-shared` claim
    kindcluster.down()

or `python tests/kind/kindcluster.py up|down|load IMAGE|env`.

What `up` leaves running besides kind's node container: the bridge `kind0` (the node's network;
the host has 10.213.0.1 on it), a route from the host to the pod subnet via the node, and
tests/cluster/provisioner.py (pid in $KIND_WORK/provisioner.pid) giving claims hostPath volumes
under a directory the node mounts at the same path. No sysctl is changed; README.md says why
each piece is as it is.

Environment: BALLAST_CACHE_DIR (default ~/.cache/ballast), KIND_WORK (default
$BALLAST_CACHE_DIR/kind), KIND_CLUSTER_NAME (ballast-kind), KIND_VERSION (v0.33.0).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))  # run as a script too (make kind-up)

from tests.support.kube import cache_dir  # noqa: E402  (the one cache directory of build.sh and the cluster)

NODE_IMAGE_SCRIPT = HERE / "node-image.sh"
IMAGE_SCRIPT = REPO / "scripts" / "image.sh"
BUILD_SCRIPT = REPO / "tests" / "cluster" / "build.sh"
PROVISIONER = REPO / "tests" / "cluster" / "provisioner.py"
# podman runs the node, mmdebstrap makes its root, umoci and skopeo pack its images; gcc builds the pause
KIND_PACKAGES = (
    "podman",
    "runc",
    "mmdebstrap",
    "skopeo",
    "umoci",
    "uidmap",
    "fuse-overlayfs",
    "gcc",
    "libc6-dev",
    "iproute2",
)

# node-image.sh's defaults; the pod subnet is baked into the node image's CNI configuration
BRIDGE = os.environ.get("KIND_BRIDGE", "kind0")
NODE_SUBNET = os.environ.get("KIND_NODE_SUBNET", "10.213.0.0/24")
POD_SUBNET = os.environ.get("KIND_POD_SUBNET", "10.214.0.0/16")
SERVICE_SUBNET = os.environ.get("KIND_SERVICE_SUBNET", "10.215.0.0/16")
API_PORT = 6443


def work_dir() -> Path:
    return Path(os.environ.get("KIND_WORK") or cache_dir() / "kind")


def cluster_name() -> str:
    return os.environ.get("KIND_CLUSTER_NAME", "ballast-kind")


def node_name() -> str:
    return f"{cluster_name()}-control-plane"


def kubeconfig_path() -> Path:
    return work_dir() / "kubeconfig"


def volumes_dir() -> Path:
    """The provisioner's volumes: a host directory the node mounts at the same path, so a
    hostPath volume names the same files on both sides."""
    return work_dir() / "volumes"


def shared_store_dir() -> Path:
    """The one directory behind every `ballast-shared` claim (provisioner.shared_directory)."""
    return volumes_dir() / "ballast-shared"


def log(message: str) -> None:
    print(f"kindcluster: {message}", file=sys.stderr, flush=True)


def run(
    *command: str | Path, env: dict | None = None, check: bool = True, capture: bool = True, timeout: float = 1800
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(c) for c in command],
        env={**os.environ, **(env or {})},
        text=True,
        stdout=subprocess.PIPE if capture else sys.stderr,
        stderr=subprocess.PIPE if capture else None,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({result.returncode}):\n{result.stderr or ''}")
    return result


def _script_env() -> dict:
    return {"KIND_WORK": str(work_dir())}


def kind(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    """kind, through node-image.sh: the podman provider, the podman wrapper, kind's network."""
    return run("bash", NODE_IMAGE_SCRIPT, "kind", *args, env=_script_env(), check=check, capture=capture)


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """podman with node-image.sh's storage (the one the node container lives in)."""
    return run("bash", NODE_IMAGE_SCRIPT, "podman", *args, env=_script_env(), check=check)


# --- building --------------------------------------------------------------------------------


def kubernetes_binaries() -> Path:
    """build.sh's binaries (the local cluster's), built when missing; a warm run only checks."""
    return Path(run("bash", BUILD_SCRIPT).stdout.strip().splitlines()[-1])


def pause_layout() -> Path:
    """tests/cluster/images.py's static pause image as an OCI layout (no registry involved)."""
    sys.path.insert(0, str(REPO / "tests" / "cluster"))
    import images

    return images.pause_layout(cache_dir())


def node_image() -> str:
    """node-image.sh's image for the current inputs (built when missing; its progress on stderr)."""
    env = {
        **os.environ,
        **_script_env(),
        "BALLAST_KIND_BIN": str(kubernetes_binaries()),
        "BALLAST_KIND_PAUSE_LAYOUT": str(pause_layout()),
    }
    result = subprocess.run(
        ["bash", str(NODE_IMAGE_SCRIPT), "build"], env=env, text=True, stdout=subprocess.PIPE, check=True
    )
    return result.stdout.strip().splitlines()[-1]


# --- the host side: bridge and route ---------------------------------------------------------


def _gateway() -> str:
    network, prefix = NODE_SUBNET.split("/")
    return f"{network.rsplit('.', 1)[0]}.1/{prefix}"


def ensure_bridge() -> None:
    """kind's podman network is a plain bridge (node-image.sh kind_support); the host's address
    on it is how the host reaches the node. No forwarding, no NAT: nothing leaves through it."""
    if run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
        run("ip", "link", "add", BRIDGE, "type", "bridge")
    if _gateway() not in run("ip", "-o", "addr", "show", "dev", BRIDGE).stdout:
        run("ip", "addr", "add", _gateway(), "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")


def ensure_pod_route(node_ip: str) -> None:
    """Pod IPs (EndpointSlice addresses) via the node: the node forwards in its own network
    namespace, so the host's net.ipv4.ip_forward stays as it is."""
    run("ip", "route", "replace", POD_SUBNET, "via", node_ip, "dev", BRIDGE)


def remove_bridge() -> None:
    if run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
        run("ip", "link", "delete", BRIDGE)  # takes the route with it


# --- the cluster -----------------------------------------------------------------------------


def cluster_config() -> dict:
    volumes = str(volumes_dir())
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "networking": {
            "podSubnet": POD_SUBNET,
            "serviceSubnet": SERVICE_SUBNET,
            "disableDefaultCNI": True,  # the image's bridge conflist is the pod network (one node)
            "kubeProxyMode": "iptables",
        },
        "nodes": [
            {
                "role": "control-plane",
                # the provisioner's volumes at the same path on both sides (see volumes_dir)
                "extraMounts": [{"hostPath": volumes, "containerPath": volumes}],
            }
        ],
        "kubeadmConfigPatches": [
            # preflight checks modules and cgroups this host lacks; no CoreDNS image is built
            "kind: InitConfiguration\nskipPhases: [preflight, addon/coredns]\n",
            # no CAP_SYS_RESOURCE: negative OOM scores are refused; the host is cgroup v1
            "kind: KubeletConfiguration\noomScoreAdj: 0\nfailCgroupV1: false\n",
            # conntrack sysctls are global: kube-proxy must leave them as they are
            "kind: KubeProxyConfiguration\n"
            "conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}\n",
        ],
    }


def exists() -> bool:
    return cluster_name() in kind("get", "clusters", check=False).stdout.split()


def node_ip() -> str:
    state = json.loads(podman("inspect", node_name()).stdout)[0]
    if not state["State"]["Running"]:
        # e.g. after a reboot: the container is kind's cluster; starting it boots the node again
        log(f"starting the stopped node {node_name()}")
        podman("start", node_name())
        state = json.loads(podman("inspect", node_name()).stdout)[0]
    networks = state["NetworkSettings"]["Networks"]
    return next(n["IPAddress"] for n in networks.values() if n.get("IPAddress"))


def create(image: str) -> None:
    work = work_dir()
    volumes_dir().mkdir(parents=True, exist_ok=True)
    config = work / "kind-config.json"  # JSON is YAML, and kind reads YAML
    config.write_text(json.dumps(cluster_config(), indent=1))
    log(f"creating kind cluster {cluster_name()} on {image}")
    kind(
        "create",
        "cluster",
        "--image",
        image,
        "--name",
        cluster_name(),
        "--config",
        str(config),
        "--kubeconfig",
        str(work / "kubeconfig.kind"),
        "--wait",
        "0s",
        *(["--retain"] if os.environ.get("KIND_RETAIN") else []),
        capture=False,
    )


def write_kubeconfig(ip: str) -> Path:
    """kind's kubeconfig names 127.0.0.1:PORT, which podman does not serve on a network without
    port mapping; the node's IP on the bridge is in the API server's certificate."""
    text = kind("get", "kubeconfig", "--name", cluster_name()).stdout
    lines = [
        f"    server: https://{ip}:{API_PORT}" if line.strip().startswith("server:") else line
        for line in text.splitlines()
    ]
    path = kubeconfig_path()
    staging = path.with_suffix(".new")
    staging.write_text("\n".join(lines) + "\n")
    staging.chmod(0o600)
    staging.replace(path)
    return path


def kubectl(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    binary = cache_dir() / "bin" / "current" / "kubectl"
    return run(binary, "--kubeconfig", kubeconfig_path(), *args, check=check, timeout=timeout)


def wait_until(predicate, timeout: float, message: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {message}")
        time.sleep(interval)


def node_ready() -> bool:
    result = kubectl(
        "get",
        "node",
        node_name(),
        "-o",
        "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
        check=False,
        timeout=10,
    )
    return result.returncode == 0 and result.stdout.strip() == "True"


# --- storage: provisioner.py against the kind cluster --------------------------------------------


def _provisioner_pid() -> int | None:
    pid_file = work_dir() / "provisioner.pid"
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    # the pid is ours only if it still runs the provisioner for this kubeconfig
    if str(PROVISIONER).encode() in cmdline and str(kubeconfig_path()).encode() in cmdline:
        return pid
    return None


def ensure_provisioner() -> None:
    """tests/cluster/provisioner.py, as the local cluster runs it: StorageClasses ballast-local
    (default) and ballast-shared, hostPath volumes (0777 directories) pre-bound to claims, every
    ballast-shared claim the same directory. A process of its own, outliving this one."""
    if _provisioner_pid():
        return
    work = work_dir()
    with open(work / "provisioner.log", "ab") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                str(PROVISIONER),
                "--kubeconfig",
                str(kubeconfig_path()),
                "--volumes-dir",
                str(volumes_dir()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (work / "provisioner.pid").write_text(str(process.pid))


def stop_provisioner() -> None:
    pid = _provisioner_pid()
    if pid:
        os.kill(pid, signal.SIGTERM)
    (work_dir() / "provisioner.pid").unlink(missing_ok=True)


def storage_ready() -> bool:
    """ballast-shared exists, and only the provisioner's class is the default (kind adds its own
    `standard`, an in-tree hostPath class: a directory per claim, root-owned 0755)."""
    if kubectl("get", "storageclass", "ballast-shared", check=False, timeout=10).returncode != 0:
        return False
    if kubectl("get", "storageclass", "standard", check=False, timeout=10).returncode == 0:
        kubectl(
            "annotate", "--overwrite", "storageclass", "standard", "storageclass.kubernetes.io/is-default-class=false"
        )
    return True


# --- the API ---------------------------------------------------------------------------------


def up() -> Path:
    """The cluster, running, with storage and the route to pods; returns its kubeconfig.
    Builds what is missing (node image, kind), creates the cluster if absent."""
    started = time.monotonic()
    sys.path.insert(0, str(REPO / "tests" / "cluster"))
    import hostpackages

    hostpackages.ensure_packages(KIND_PACKAGES)
    work = work_dir()
    work.mkdir(parents=True, exist_ok=True)
    ensure_bridge()
    if not exists():
        create(node_image())
    ip = node_ip()
    write_kubeconfig(ip)
    ensure_pod_route(ip)
    wait_until(node_ready, 180, f"node {node_name()} Ready")
    ensure_provisioner()
    wait_until(storage_ready, 60, "StorageClass ballast-shared")
    log(f"up in {time.monotonic() - started:.0f}s: KUBECONFIG={kubeconfig_path()}")
    return kubeconfig_path()


def down() -> None:
    """Deletes the cluster, the provisioner, the bridge and route, and the volumes; keeps the
    built images and binaries (the cache)."""
    stop_provisioner()
    if exists():
        kind(
            "delete",
            "cluster",
            "--name",
            cluster_name(),
            "--kubeconfig",
            str(work_dir() / "kubeconfig.kind"),
            capture=False,
        )
    remove_bridge()
    kubeconfig_path().unlink(missing_ok=True)
    run("rm", "-rf", volumes_dir())


def _node_images() -> dict[str, str]:
    """name -> manifest digest of the images in the node's containerd (the kubelet's namespace)."""
    listing = podman("exec", node_name(), "ctr", "--namespace=k8s.io", "images", "ls").stdout.splitlines()[1:]
    return {fields[0]: fields[2] for fields in (line.split() for line in listing) if len(fields) > 2}


def load_image(reference: str) -> str:
    """Puts `reference` from scripts/image.sh's podman storage into the node's containerd and
    returns the reference pods should use: repository@sha256:<digest containerd gave the
    imported manifest>, found in the node with no registry (use imagePullPolicy IfNotPresent;
    the kubelet never pulls an image that is present). Skipped when the node has it already."""
    image_id = run("bash", IMAGE_SCRIPT, "podman", "image", "inspect", "--format", "{{.Id}}", reference).stdout.strip()
    marker = f"/kind/loaded/{image_id}"  # in the node: a new cluster starts without it
    if podman("exec", node_name(), "test", "-f", marker, check=False).returncode != 0:
        archives = work_dir() / "images"
        archives.mkdir(parents=True, exist_ok=True)
        archive = archives / f"{image_id[:16]}.tar"
        if not archive.exists():
            staging = archive.with_suffix(".partial")
            staging.unlink(missing_ok=True)
            run(
                "bash",
                IMAGE_SCRIPT,
                "podman",
                "save",
                "--quiet",
                "--format",
                "docker-archive",
                "-o",
                staging,
                reference,
            )
            staging.replace(archive)
            for old in archives.glob("*.tar"):  # one image kept: the archives are large
                if old != archive:
                    old.unlink()
        log(f"loading {reference} into {node_name()}")
        kind("load", "image-archive", "--name", cluster_name(), str(archive))
        podman("exec", node_name(), "sh", "-c", f"mkdir -p /kind/loaded && touch {marker}")
    images = _node_images()
    digest = images.get(reference)
    if not digest:
        raise RuntimeError(f"{reference} is not in {node_name()}'s containerd after loading: {sorted(images)}")
    repository = reference.rsplit(":", 1)[0] if ":" in reference.rsplit("/", 1)[-1] else reference
    by_digest = f"{repository}@{digest}"
    if by_digest not in images:
        # the kubelet asks containerd's CRI for the reference it is given, and CRI resolves a
        # repo@digest reference only when an image has that name (as a pull by digest creates);
        # `ctr import` names the image by its tag only
        podman("exec", node_name(), "ctr", "--namespace=k8s.io", "images", "tag", reference, by_digest)
    return by_digest


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "up"
    if command == "up":
        print(up())
    elif command == "down":
        down()
    elif command == "load":
        print(load_image(argv[1]))
    elif command == "env":  # for a shell: eval "$(python tests/kind/kindcluster.py env IMAGE)"
        kubeconfig = up()
        image = load_image(argv[1]) if len(argv) > 1 else ""
        print(f"export KUBECONFIG={kubeconfig}")
        if image:
            print(f"export BALLAST_IMAGE={image}")
        print("export BALLAST_STORE_STORAGE_CLASS=ballast-shared")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
