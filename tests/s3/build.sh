#!/usr/bin/env bash
# Builds VersityGW (a real S3-compatible server over a local directory) from the Go module
# proxy and caches it outside the checkout, keyed by version and module hash, so a second
# run takes no time at all. Prints the path of the binary.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache_root=${BALLAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ballast}
export CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local

hash=$(cat "$here/versitygw/go.mod" "$here/versitygw/go.sum" | sha256sum | cut -c1-12)
dest="$cache_root/bin/versitygw-$VERSITYGW_VERSION-$hash"
if [[ ! -x "$dest/versitygw" ]]; then
  echo "building versitygw $VERSITYGW_VERSION into $dest (a cold build takes about a minute)" >&2
  staging="$dest.partial.$$"
  rm -rf "$staging" && mkdir -p "$staging"
  started=$SECONDS
  (cd "$here/versitygw" && go build -ldflags "-s -w" -o "$staging/" github.com/versity/versitygw/cmd/versitygw)
  echo "built versitygw in $((SECONDS - started))s" >&2
  mkdir -p "$dest"
  mv "$staging/versitygw" "$dest/" && rmdir "$staging"
fi
mkdir -p "$cache_root/bin/current"
ln -sfn "$dest/versitygw" "$cache_root/bin/current/versitygw"
echo "$dest/versitygw"
