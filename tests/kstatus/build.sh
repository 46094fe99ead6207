#!/usr/bin/env bash
# Builds the kstatus command (main.go) and caches it outside the checkout, keyed by the
# cli-utils version and the hash of this module's sources, as tests/cluster/build.sh does for
# the cluster's binaries. Prints the path of the binary.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${BALLAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ballast}
export CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local

version=$(sed -n 's|^\s*require sigs.k8s.io/cli-utils \(v[^ ]*\).*|\1|p; s|^\s*sigs.k8s.io/cli-utils \(v[^ ]*\).*|\1|p' "$here/go.mod" | head -1)
hash=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-12)
dest="$cache_root/bin/kstatus-$version-$hash"
if [[ ! -x "$dest/kstatus" ]]; then
  echo "building kstatus (cli-utils $version) into $dest" >&2
  staging="$dest.partial.$$"
  rm -rf "$staging" && mkdir -p "$staging"
  (cd "$here" && go build -ldflags "-s -w" -o "$staging/kstatus" .)
  mkdir -p "$dest"
  mv "$staging/kstatus" "$dest/" && rmdir "$staging"
fi
echo "$dest/kstatus"
