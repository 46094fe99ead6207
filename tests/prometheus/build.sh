#!/usr/bin/env bash
# Builds Prometheus (and promtool) from the Go module proxy and caches them outside the
# checkout, keyed by version and module hash, so a second run takes no time at all. Prints the
# path of the prometheus binary; promtool is next to it. The cache key also covers the build
# tags and flags below.
#
# The module zip holds no web UI assets (Prometheus's release process builds them with npm):
# the UI pages answer an error, the HTTP API is complete. Service discovery is limited to
# static, file, HTTP and Kubernetes (Prometheus's remove_all_sd/enable_*_sd build tags), which
# leaves the cloud providers' SDKs (AWS, Azure, GCE...) out of the build.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache_root=${BALLAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ballast}
export CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local

# v0.316.0 -> 3.16.0, the release `prometheus --version` prints
module_release=${PROMETHEUS_VERSION#v0.}
release="$((${module_release%%.*} / 100)).$((${module_release%%.*} % 100)).${module_release#*.}"
tags=remove_all_sd,enable_kubernetes_sd
ldflags="-s -w -X github.com/prometheus/common/version.Version=$release"
hash=$({ cat "$here/go.mod" "$here/go.sum"; echo "$tags $ldflags"; } | sha256sum | cut -c1-12)
dest="$cache_root/bin/prometheus-$PROMETHEUS_VERSION-$hash"
if [[ ! -x "$dest/prometheus" || ! -x "$dest/promtool" ]]; then
  echo "building prometheus $release ($PROMETHEUS_VERSION) into $dest (a cold build takes several minutes)" >&2
  staging="$dest.partial.$$"
  rm -rf "$staging" && mkdir -p "$staging"
  started=$SECONDS
  (cd "$here" && go build -tags "$tags" -ldflags "$ldflags" -o "$staging/" \
    github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool)
  echo "built prometheus in $((SECONDS - started))s" >&2
  mkdir -p "$dest"
  mv "$staging/prometheus" "$staging/promtool" "$dest/" && rmdir "$staging"
fi
mkdir -p "$cache_root/bin/current"
ln -sfn "$dest/prometheus" "$cache_root/bin/current/prometheus"
ln -sfn "$dest/promtool" "$cache_root/bin/current/promtool"
echo "$dest/prometheus"
