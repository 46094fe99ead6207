#!/usr/bin/env bash
# kind's node image for KIND_EXPERIMENTAL_PROVIDER=podman, made here without pulling any image,
# and kind itself with what this host needs around it. tests/kind/kindcluster.py runs this; the
# cluster's lifecycle (create, storage, routes, images) is there. README.md says what differs
# from kind's own node image, and why.
#
#   node-image.sh [build]         the node image (about 3 minutes cold, a second warm); prints its name
#   node-image.sh kind ARGS...    kind (podman provider, the wrapper below, kind's network) with ARGS
#   node-image.sh podman ARGS...  podman with this script's configuration and storage
#
# The image is a Debian bookworm root made with mmdebstrap (systemd, Debian's containerd, runc and
# CNI plugins), the Kubernetes binaries tests/cluster/build.sh makes, kubeadm and kube-proxy built
# from tests/kind/kubernetes (same version, same replaces), kind's node files (entrypoint, units)
# from the kind module in the Go module cache, and the images kubeadm runs, made from the same
# binaries and imported into containerd at boot.
#
# Inputs (kindcluster.py sets them): BALLAST_KIND_BIN (build.sh's binaries, default
# $cache/bin/current), BALLAST_KIND_PAUSE_LAYOUT (tests/cluster/images.py's pause OCI layout).
# Everything made lives under KIND_WORK (default ${BALLAST_CACHE_DIR:-~/.cache/ballast}/kind),
# named by a hash of what it was made from, so a second build with the same inputs does nothing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache_root=${BALLAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ballast}
work=${KIND_WORK:-$cache_root/kind}
kind_version=${KIND_VERSION:-v0.33.0}
bin=${BALLAST_KIND_BIN:-$cache_root/bin/current}
pause_layout=${BALLAST_KIND_PAUSE_LAYOUT:-}
# shellcheck source=../cluster/versions.env
source "$repo/tests/cluster/versions.env"
suite=bookworm
epoch=1735689600 # SOURCE_DATE_EPOCH for mmdebstrap: same inputs, same roots
pod_subnet=${KIND_POD_SUBNET:-10.214.0.0/16}
kind_bridge=${KIND_BRIDGE:-kind0}
kind_subnet=${KIND_NODE_SUBNET:-10.213.0.0/24}
export CGO_ENABLED=0 GOTOOLCHAIN=local

log() { echo "node-image.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# shellcheck disable=SC1090
source <(sed -n '/^debian_mirrors()/,/^}/p' "$repo/scripts/image.sh")

hash_of() { sha256sum | cut -c1-16; }

configure_podman() { # podman's configuration and storage apart from the system's and image.sh's
  mkdir -p "$work/state/tmp" "$work/state/run" "$work/state/storage" "$work/cni.d"
  local name
  for name in containers.conf storage.conf; do
    sed "s|@STATE@|$work/state|g" "$repo/scripts/containers/$name" >"$work/$name.new"
    mv "$work/$name.new" "$work/$name"
  done
  # kind's podman network (kind_support) is kept out of /etc/cni/net.d
  printf '\n[network]\nnetwork_config_dir = "%s/cni.d"\n' "$work" >>"$work/containers.conf"
  export CONTAINERS_CONF=$work/containers.conf CONTAINERS_STORAGE_CONF=$work/storage.conf
}

# --- kubeadm and kube-proxy ----------------------------------------------------------------------

kube_extras_dir() { # the build's directory, named by tests/kind/kubernetes's pins
  echo "$work/bin/kubernetes-$KUBE_VERSION-$(cat "$here/kubernetes/go.mod" "$here/kubernetes/go.sum" | hash_of)"
}

build_kube_extras() { # stamped with the same version as build.sh's binaries
  local out; out=$(kube_extras_dir)
  [[ -x $out/kubeadm && -x $out/kube-proxy ]] && return
  log "building kubeadm and kube-proxy $KUBE_VERSION"
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  (cd "$here/kubernetes" && GOFLAGS=-trimpath go build \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor" \
    -o "$out.partial/" k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kube-proxy)
  rm -rf "$out" && mv "$out.partial" "$out"
}

kubeadm_images() { # -> the images kubeadm $KUBE_VERSION runs, one name a line
  "$(kube_extras_dir)/kubeadm" config images list --kubernetes-version "$KUBE_VERSION" 2>/dev/null
}

# --- what goes into the image ----------------------------------------------------------------

kind_files() { # -> kind's images/base/files, from the kind module in the Go module cache
  local dir
  dir=$(cd / && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kind@$kind_version" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  echo "$dir/images/base/files"
}

mirrors() {
  local m=(); mapfile -t m < <(debian_mirrors)
  ((${#m[@]})) || die "no Debian $suite mirror in /etc/apt/sources.list*"
  printf '%s\n' "${m[@]}"
}

control_plane_binaries() { echo kube-apiserver kube-controller-manager kube-scheduler etcd; }

image_key() { # everything the node image is made from; its tag
  {
    cat "$0" "$here/kubernetes/go.mod" "$here/kubernetes/go.sum"
    echo "$kind_version $suite $pod_subnet $KUBE_VERSION"
    local b
    # build.sh's binaries live in directories named by their module's pins: the resolved path
    # names the content without reading hundreds of megabytes
    for b in $(control_plane_binaries) kubelet kubectl; do readlink -f "$bin/$b"; done
    basename "$pause_layout"
  } | hash_of
}

# One image holds the control plane's binaries on a small Debian (kube-proxy needs iptables and
# nft); kubeadm's names for kube-apiserver, -controller-manager, -scheduler, kube-proxy and etcd
# are all tags of it (etcd is build.sh's v3.6 under kubeadm's etcd tag): one image to make, not five.
build_control_plane_tar() { # tar
  local tar=$1
  [[ -s $tar ]] && return
  local m=(); mapfile -t m < <(mirrors)
  log "making the control-plane image root with mmdebstrap"
  local hook='mkdir -p "$1/usr/local/bin"' b
  for b in $(control_plane_binaries); do hook+="; cp -L '$bin/$b' \"\$1/usr/local/bin/$b\""; done
  hook+="; cp -L '$(kube_extras_dir)/kube-proxy' \"\$1/usr/local/bin/kube-proxy\""
  SOURCE_DATE_EPOCH=$epoch mmdebstrap --variant=essential --include=iptables,nftables,conntrack,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook="$hook" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
    --format=tar --quiet "$suite" "$work/root/kube.tar" "${m[@]}"
  local base=localhost/ballast-kind-kube:$KUBE_VERSION
  podman import --quiet --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$work/root/kube.tar" "$base" >/dev/null
  rm -f "$work/root/kube.tar"
  local names=() name
  while read -r name; do
    case $name in
      */kube-apiserver:* | */kube-controller-manager:* | */kube-scheduler:* | */kube-proxy:* | */etcd:*)
        podman tag "$base" "$name"; names+=("$name") ;;
    esac
  done < <(kubeadm_images)
  ((${#names[@]} == 5)) || die "kubeadm lists unexpected images: $(kubeadm_images | tr '\n' ' ')"
  podman save --quiet --format docker-archive -m -o "$tar.partial" "${names[@]}"
  podman rmi --force "$base" "${names[@]}" >/dev/null
  mv "$tar.partial" "$tar"
}

build_pause_tar() { # tar: tests/cluster/images.py's static pause, under the name kubeadm expects
  local tar=$1
  [[ -s $tar ]] && return
  [[ -f $pause_layout/index.json ]] || die "BALLAST_KIND_PAUSE_LAYOUT is no OCI layout: '$pause_layout'"
  local ref; ref=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$pause_layout/index.json")
  skopeo copy --quiet "oci:$pause_layout:$ref" "docker-archive:$tar.partial:$(kubeadm_images | grep '/pause:')"
  mv "$tar.partial" "$tar"
}

write_node_files() { # dir images_dir: what kind's Dockerfile copies and does, for Debian's packages
  local dir=$1 images=$2 files; files=$(kind_files)
  rm -rf "$dir"; mkdir -p "$dir"/{usr/local/bin,usr/bin,kind/bin,kind/images,etc/systemd/system/kubelet.service.d,etc/default,etc/sysctl.d,etc/containerd,etc/cni/net.d}
  install -m 0755 "$files/usr/local/bin/entrypoint" "$dir/usr/local/bin/entrypoint"
  install -m 0755 "$files"/kind/bin/*.sh "$dir/kind/bin/"
  install -m 0644 "$files"/etc/systemd/system/{kubelet.service,kubelet.slice,undo-mount-hacks.service} "$dir/etc/systemd/system/"
  install -m 0644 "$files"/etc/systemd/system/kubelet.service.d/* "$dir/etc/systemd/system/kubelet.service.d/"
  install -m 0644 "$files"/etc/default/kubelet "$dir/etc/default/"
  install -m 0644 "$files"/etc/sysctl.d/* "$dir/etc/sysctl.d/"
  install -m 0644 "$files"/etc/crictl.yaml "$dir/etc/"
  # Debian's containerd is /usr/bin/containerd; without CAP_SYS_RESOURCE (not in this host's
  # bounding set) systemd cannot apply OOMScoreAdjust=-999 and the unit would fail.
  sed -e 's|/usr/local/bin/containerd|/usr/bin/containerd|' -e '/^OOMScoreAdjust=/d' \
    "$files/etc/systemd/system/containerd.service" >"$dir/etc/systemd/system/containerd.service"
  local b
  for b in kubelet kubectl; do install -m 0755 "$(readlink -f "$bin/$b")" "$dir/usr/bin/$b"; done
  install -m 0755 "$(kube_extras_dir)/kubeadm" "$dir/usr/bin/kubeadm"
  echo "$KUBE_VERSION" >"$dir/kind/version"
  cp "$images"/*.tar "$dir/kind/images/"
  # containerd 1.6's (version 2) form of kind's config.toml; no fuse-overlayfs, no
  # base_runtime_spec (kind's product_uuid hook); oom_score_adj only ever raised (no CAP_SYS_RESOURCE)
  cat >"$dir/etc/containerd/config.toml" <<EOF
version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$(kubeadm_images | grep '/pause:')"
  tolerate_missing_hugepages_controller = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
EOF
  # One node: a bridge inside the node is the whole pod network (kind's kindnetd is not built
  # here; the cluster is created with networking.disableDefaultCNI). ipMasq only rewrites what
  # leaves the node's own network namespace.
  local first=${pod_subnet%/*}; first=${first%.*}.0/24
  cat >"$dir/etc/cni/net.d/10-bridge.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "kind-pods", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$first"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  # kind loads its images with `ctr images import` at build time; here they are imported at boot
  cat >"$dir/etc/systemd/system/kind-load-images.service" <<'EOF'
[Unit]
Description=Import the images under /kind/images into containerd
After=containerd.service
Requires=containerd.service
Before=kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -euc 'for f in /kind/images/*.tar; do ctr --namespace=k8s.io images import "$f"; done'

[Install]
WantedBy=multi-user.target
EOF
  # systemd-sysctl would apply /usr/lib/sysctl.d (kernel.pid_max, fs.protected_*: not
  # namespaced, so the host's) from a privileged node; only kind's own (net.*, per network
  # namespace) are applied.
  cat >"$dir/etc/systemd/system/kind-sysctl.service" <<'EOF'
[Unit]
Description=Apply kind's network sysctls (per network namespace)
DefaultDependencies=no
Before=sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for f in /etc/sysctl.d/10-network-*.conf; do /usr/sbin/sysctl -p "$f"; done'

[Install]
WantedBy=sysinit.target
EOF
}

build_node_image() { # image images_dir
  local image=$1 images=$2 tar=$work/root/node.tar files_dir=$work/root/node-files
  write_node_files "$files_dir" "$images"
  local m=(); mapfile -t m < <(mirrors)
  log "making the node root with mmdebstrap"
  # the second hook is kind's Dockerfile's systemd clean-up (units that make no sense in a container)
  SOURCE_DATE_EPOCH=$epoch mmdebstrap --variant=essential \
    --include=systemd,mawk,bash,ca-certificates,procps,iproute2,iptables,nftables,conntrack,ethtool,util-linux,mount,kmod,libseccomp2,containerd,runc,containernetworking-plugins \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook="cp -a '$files_dir'/. \"\$1\"/" \
    --customize-hook='find "$1"/lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete;
      rm -f "$1"/lib/systemd/system/multi-user.target.wants/* "$1"/etc/systemd/system/*.wants/*
      rm -f "$1"/lib/systemd/system/local-fs.target.wants/* "$1"/lib/systemd/system/sockets.target.wants/*udev*
      rm -f "$1"/lib/systemd/system/sockets.target.wants/*initctl* "$1"/lib/systemd/system/basic.target.wants/*
      echo ReadKMsg=no >>"$1"/etc/systemd/journald.conf
      ln -sf /usr/lib/systemd/systemd "$1"/sbin/init
      mkdir -p "$1"/etc/kubernetes/manifests
      chroot "$1" systemctl enable kubelet.service containerd.service undo-mount-hacks.service kind-load-images.service kind-sysctl.service
      chroot "$1" systemctl mask systemd-binfmt.service systemd-sysctl.service' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
    --format=tar --quiet "$suite" "$tar.partial" "${m[@]}"
  podman import --quiet \
    --change 'ENV container=docker' --change 'STOPSIGNAL SIGRTMIN+3' \
    --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
    "$tar.partial" "$image" >/dev/null
  rm -rf "$tar.partial" "$files_dir"
}

build() { # -> the node image's name
  local b
  for b in $(control_plane_binaries) kubelet kubectl; do
    [[ -x $bin/$b ]] || die "no $bin/$b: run tests/cluster/build.sh"
  done
  build_kube_extras
  local key; key=$(image_key)
  local image=localhost/ballast-kind-node:$KUBE_VERSION-$key
  if ! podman image exists "$image"; then
    local images=$work/images/node-$key
    mkdir -p "$images" "$work/root"
    build_control_plane_tar "$images/kube.tar"
    build_pause_tar "$images/pause.tar"
    build_node_image "$image" "$images"
    rm -rf "$images" # inside the image now
    # older node images (other inputs) are of no further use
    podman images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/ballast-kind-node:' | grep -vxF "$image" |
      xargs -r podman rmi --force >/dev/null 2>&1 || true
  fi
  echo "$image"
}

# --- kind -----------------------------------------------------------------------------------

ensure_kind() { # kind, built from the Go module proxy
  [[ -x $work/bin/kind-$kind_version ]] && return
  log "building kind $kind_version"
  rm -rf "$work/bin/kind.partial"
  (cd / && GOBIN=$work/bin/kind.partial GOFLAGS=-trimpath go install "sigs.k8s.io/kind@$kind_version")
  mv "$work/bin/kind.partial/kind" "$work/bin/kind-$kind_version" && rmdir "$work/bin/kind.partial"
}

# kind's podman network `kind`, written here instead of by kind: a bridge that is no gateway, with
# no masquerading and no port mapping. kind's own would make the CNI bridge plugin switch on
# net.ipv4.ip_forward for the whole machine and add netfilter rules on the host. The host reaches
# the node at its IP on this bridge (kindcluster.py gives the bridge its address).
kind_support() {
  local gateway=${kind_subnet%/*}; gateway=${gateway%.*}.1
  cat >"$work/cni.d/kind.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "kind", "plugins": [
  {"type": "bridge", "bridge": "$kind_bridge", "isGateway": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
            "ranges": [[{"subnet": "$kind_subnet", "gateway": "$gateway"}]]}}]}
EOF
  # kind runs `podman`: this one, first on its PATH, fills in what this host lacks
  mkdir -p "$work/wrap" "$work/empty-modules"
  cat >"$work/wrap/podman.new" <<EOF
#!/bin/bash
echo "\$(date +%T) podman \$*" >>'$work/podman-calls.log'
args=()
for a in "\$@"; do
  # the host has no /lib/modules, which kind mounts read-only into every node
  [[ \$a == /lib/modules:/lib/modules:ro && ! -d /lib/modules ]] && a='$work/empty-modules:/lib/modules:ro'
  args+=("\$a")
done
# systemd as PID 1 raises fs.nr_open and fs.file-max (not namespaced: the host's) when /proc/sys
# is writable, as in a privileged container: the nodes get /dev/null there instead
[[ \${args[0]:-} == run ]] && args=(run --security-opt mask=/proc/sys/fs/nr_open:/proc/sys/fs/file-max "\${args[@]:1}")
exec /usr/bin/podman "\${args[@]}"
EOF
  chmod +x "$work/wrap/podman.new" && mv "$work/wrap/podman.new" "$work/wrap/podman"
}

kind_cmd() {
  ensure_kind
  kind_support
  PATH=$work/wrap:$PATH KIND_EXPERIMENTAL_PROVIDER=podman exec "$work/bin/kind-$kind_version" "$@"
}

configure_podman
case ${1:-build} in
  build) build ;;
  kind) shift; kind_cmd "$@" ;;
  podman) shift; exec podman "$@" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
