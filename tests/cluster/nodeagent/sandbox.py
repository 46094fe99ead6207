"""The command line that starts one container: join its cgroup, enter the pod's network
namespace (unless the pod uses the host's network), enter a private mount and UTS namespace,
set the hostname, bind every volume at its mountPath, change to workingDir, optionally drop to
runAsUser, and exec the container's argv - all without changing the pid, so the pid the agent
holds is the container's main process."""

from __future__ import annotations

import dataclasses
import shlex
import shutil
from pathlib import Path

from .expansion import expand


@dataclasses.dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = False


@dataclasses.dataclass(frozen=True)
class RunAs:
    uid: int
    gid: int
    groups: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Tools:
    """Absolute paths, because the pod's own PATH may not contain them."""
    sh: str
    unshare: str
    nsenter: str
    mount: str
    mkdir: str
    setpriv: str

    @classmethod
    def find(cls) -> "Tools":
        def which(name: str) -> str:
            found = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
            if not found:
                raise RuntimeError(f"the node agent needs {name!r} (util-linux/coreutils)")
            return found
        return cls(sh=which("sh"), unshare=which("unshare"), nsenter=which("nsenter"),
                   mount=which("mount"), mkdir=which("mkdir"), setpriv=which("setpriv"))


def container_mounts(container: dict, volume_paths: dict[str, Path], env: dict[str, str],
                     termination_log: Path) -> list[Mount]:
    """Bind mounts for the container, parents before children so nested mountPaths land
    inside the volume mounted above them."""
    mounts = []
    for volume_mount in container.get("volumeMounts") or []:
        source = volume_paths[volume_mount["name"]]
        sub_path = volume_mount.get("subPath") or expand(volume_mount.get("subPathExpr", ""), env)
        if sub_path:
            if sub_path.startswith("/") or ".." in Path(sub_path).parts:
                raise ValueError(f"subPath {sub_path!r} must be a relative path inside the volume")
            source = source / sub_path
            if not source.exists() and not source.is_symlink():
                source.mkdir(parents=True, exist_ok=True)  # as the kubelet does for a missing subPath
        mounts.append(Mount(source, volume_mount["mountPath"], bool(volume_mount.get("readOnly"))))
    mounts.append(Mount(termination_log, container.get("terminationMessagePath") or "/dev/termination-log"))
    return sorted(mounts, key=lambda m: len(Path(m.target).parts))


def launch_argv(tools: Tools, argv: list[str], *, mounts: list[Mount], hostname: str,
                working_dir: str | None, run_as: RunAs | None, cgroup_procs: Path | None,
                netns: str | None = None) -> list[str]:
    """`netns` is the path of the pod's network namespace (/run/netns/...), None for the host's."""
    q = shlex.quote
    inner = ["set -e", f"echo {q(hostname[:63])} > /proc/sys/kernel/hostname"]
    for m in mounts:
        target = q(m.target)
        if m.source.is_dir():
            inner.append(f"{q(tools.mkdir)} -p {target}")
        else:  # a file is bound onto a file; create an empty one to mount over
            inner.append(f"[ -e {target} ] || {{ {q(tools.mkdir)} -p {q(str(Path(m.target).parent))}; : > {target}; }}")
        inner.append(f"{q(tools.mount)} --bind {q(str(m.source))} {target}")
        if m.read_only:
            inner.append(f"{q(tools.mount)} -o remount,bind,ro {target}")
    if working_dir:
        inner.append(f"{q(tools.mkdir)} -p {q(working_dir)}")
        inner.append(f"cd {q(working_dir)}")
    inner.append("exec " + " ".join(q(a) for a in drop_privileges(tools, run_as)) + ' "$@"')

    outer = ["set -e"]
    if cgroup_procs is not None:
        outer.append(f"echo $$ > {q(str(cgroup_procs))}")
    # the cgroup is joined first, so even nsenter and unshare are tracked and killed with it
    enter_network = f"{q(tools.nsenter)} --net={q(netns)} -- " if netns else ""
    outer.append(f"exec {enter_network}{q(tools.unshare)} --mount --uts --propagation private -- "
                 f"{q(tools.sh)} -c {q(chr(10).join(inner))} ballast-sandbox \"$@\"")
    return [tools.sh, "-c", "\n".join(outer), "ballast-launch", *argv]


def drop_privileges(tools: Tools, run_as: RunAs | None) -> list[str]:
    if run_as is None:
        return []
    groups = ["--groups=" + ",".join(map(str, run_as.groups))] if run_as.groups else ["--clear-groups"]
    return [tools.setpriv, f"--reuid={run_as.uid}", f"--regid={run_as.gid}", *groups, "--"]


def exec_in_container_argv(tools: Tools, pid: int, argv: list[str], run_as: RunAs | None) -> list[str]:
    """For exec probes and hooks: the same network, mount and UTS namespace as the running
    container (`--net` of a host-network pod is the host's own, so it is harmless there)."""
    return [tools.nsenter, f"--target={pid}", "--net", "--mount", "--uts", "--",
            *drop_privileges(tools, run_as), *argv]
