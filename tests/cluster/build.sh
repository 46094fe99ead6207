#!/usr/bin/env bash
# Builds the local cluster's binaries from the Go module proxy and caches them outside the
# checkout, keyed by version and module hash, so a second run takes no time at all.
# Prints the directory that holds the binaries.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache_root=${BALLAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ballast}
export CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local

module_key() { # name version -> cache key; changes whenever the module's pins change
  local hash
  hash=$(cat "$here/$1/go.mod" "$here/$1/go.sum" | sha256sum | cut -c1-12)
  echo "$1-$2-$hash"
}

binary_name() { # package path -> the name go build gives its binary (a /vN suffix is skipped)
  local base; base=$(basename "$1")
  [[ $base =~ ^v[0-9]+$ ]] && base=$(basename "$(dirname "$1")")
  echo "$base"
}

build_module() { # name version ldflags packages...
  local name=$1 version=$2 ldflags=$3; shift 3
  local dest="$cache_root/bin/$(module_key "$name" "$version")"
  local missing=0 pkg
  for pkg in "$@"; do [[ -x "$dest/$(binary_name "$pkg")" ]] || missing=1; done
  if [[ $missing == 1 ]]; then
    echo "building $name $version into $dest (cold builds take a while)" >&2
    local staging="$dest.partial.$$"
    rm -rf "$staging" && mkdir -p "$staging"
    local started=$SECONDS
    (cd "$here/$name" && go build -ldflags "$ldflags" -o "$staging/" "$@")
    echo "built $name in $((SECONDS - started))s" >&2
    mkdir -p "$dest"
    mv "$staging"/* "$dest"/ && rmdir "$staging"
  fi
  for pkg in "$@"; do ln -sfn "$dest/$(binary_name "$pkg")" "$cache_root/bin/current/"; done
}

mkdir -p "$cache_root/bin/current"
kube_minor=${KUBE_VERSION#v1.}; kube_minor=${kube_minor%%.*}
build_module kubernetes "$KUBE_VERSION" \
  "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$kube_minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$kube_minor" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet
build_module etcd "$ETCD_VERSION" "-s -w" go.etcd.io/etcd/server/v3
# etcd's main package builds as "server"; everyone else calls it etcd
ln -sfn "$(readlink "$cache_root/bin/current/server")" "$cache_root/bin/current/etcd"
build_module kwok "$KWOK_VERSION" \
  "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}" \
  sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
# Helm's Makefile sets these: the version `helm version` prints, and the Kubernetes version
# `helm template` and `helm lint` assume without a cluster (its client-go's, v0.X -> 1.X).
helm_kube_minor=$(sed -n 's|^\s*k8s.io/client-go v0\.\([0-9]*\)\..*|\1|p' "$here/helm/go.mod")
build_module helm "$HELM_VERSION" \
  "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$helm_kube_minor -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$helm_kube_minor" \
  helm.sh/helm/v3/cmd/helm
# the node's image registry (its own module: distribution pins other client libraries)
build_module registry "$REGISTRY_VERSION" \
  "-s -w -X github.com/distribution/distribution/v3/version.version=$REGISTRY_VERSION" \
  github.com/distribution/distribution/v3/cmd/registry
# metrics-server, registered through the API aggregation layer (its own module: it pins its own
# k8s.io libraries); its Makefile stamps client-go's version package
build_module metrics-server "$METRICS_SERVER_VERSION" \
  "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
  sigs.k8s.io/metrics-server/cmd/metrics-server
# CoreDNS, the cluster's DNS (its own module: it pins its own k8s.io libraries); its version is
# a constant of coremain, so its Makefile stamps only the git commit, which a proxy build has not
build_module coredns "$COREDNS_VERSION" "-s -w" github.com/coredns/coredns
echo "$cache_root/bin/current"
