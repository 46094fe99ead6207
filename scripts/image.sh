#!/usr/bin/env bash
# Builds Ballast's image from operator/Dockerfile with podman, on a Debian base made here from
# Debian packages (no public image is pulled), and pushes it by digest.
#
#   scripts/image.sh [build]          the base (cached), then localhost/ballast:<version>
#   scripts/image.sh base             only the base; prints its image name
#   scripts/image.sh push HOST:PORT   build, push to HOST:PORT/ballast; prints the by-digest ref
#   scripts/image.sh verify [IMAGE]   run it as the cluster does: read-only, non-root, no caps
#   scripts/image.sh lock             regenerate operator/*.lock and constraints.txt (uv, online)
#   scripts/image.sh podman ARGS...   podman with this script's configuration and storage
#   scripts/image.sh dask-operator [build|push HOST:PORT]
#                                     the same for the Dask operator's image (engines/dask):
#                                     localhost/dask-kubernetes-operator:<its version>
#
# Everything it keeps (the base's tar, podman's storage and layer cache, push records) is under
# ${BALLAST_CACHE_DIR:-~/.cache/ballast}/image, keyed by what it was made from, so a second
# build with nothing changed reuses all of it. IMAGE overrides the tag; BALLAST_BASE_IMAGE
# builds on another base (e.g. python:3.12-slim-bookworm) instead of making the Debian one.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_root=${BALLAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ballast}
state=$cache_root/image
# ballast.__version__ is the one version (pyproject.toml reads it too, as a dynamic version)
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$repo/operator/ballast/__init__.py")
name=ballast
dockerfile=$repo/operator/Dockerfile
context=$repo
if [[ ${1:-} == dask-operator ]]; then
  # The engine's operator: its own Dockerfile and lock, its context only engines/dask, its tag
  # the dask-kubernetes release the lock pins.
  shift
  name=dask-kubernetes-operator
  dockerfile=$repo/engines/dask/Dockerfile
  context=$repo/engines/dask
  version=$(sed -n 's/^dask-kubernetes==\([^ ]*\).*$/\1/p' "$context/requirements.lock")
  [[ $# -gt 0 ]] || set -- build
fi
image=${IMAGE:-localhost/$name:$version}
uv_version=0.13.8

# The base: Debian's own python3 (3.11 in bookworm) and nothing to install packages with; the
# manylinux wheels of numpy, scipy, pandas and pyarrow bring all their libraries but libstdc++;
# lightgbm's wheel links the system's OpenMP runtime (libgomp.so.1) instead of bundling one.
suite=${BALLAST_DEBIAN_SUITE:-bookworm}
base_packages=python3,python3-venv,ca-certificates,libstdc++6,libgomp1
# A fixed timestamp makes the same packages give the same tar, byte for byte.
base_epoch=1735689600 # 2025-01-01T00:00:00Z

log() { echo "image.sh: $*" >&2; }

ensure_tools() {
  local missing=() tool
  for tool in podman buildah runc mmdebstrap skopeo newuidmap fuse-overlayfs; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  ((${#missing[@]} == 0)) && return
  log "missing ${missing[*]}: installing from Debian"
  local sudo=; ((EUID == 0)) || sudo=sudo
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    podman buildah runc mmdebstrap skopeo uidmap fuse-overlayfs
}

configure_podman() {
  mkdir -p "$state/tmp" "$state/run" "$state/storage"
  local name
  for name in containers.conf storage.conf; do
    sed "s|@STATE@|$state|g" "$repo/scripts/containers/$name" >"$state/$name.new"
    mv "$state/$name.new" "$state/$name"
  done
  export CONTAINERS_CONF=$state/containers.conf CONTAINERS_STORAGE_CONF=$state/storage.conf
}

debian_mirrors() { # -> one "deb URI SUITE COMPONENTS" line per suite of $suite the host's apt uses
  if [[ -n ${BALLAST_DEBIAN_MIRRORS:-} ]]; then
    printf '%s\n' "$BALLAST_DEBIAN_MIRRORS"
    return
  fi
  local file
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $file ]] || continue
    if [[ $file == *.sources ]]; then
      # deb822: stanzas split by blank lines; only Types: deb, only this release's suites
      awk -v suite="$suite" '
        function flush(  n, i, s, u) {
          if (types ~ /(^| )deb( |$)/ && uris != "") {
            n = split(suites, s, " ")
            for (i = 1; i <= n; i++)
              if (s[i] == suite || index(s[i], suite "-") == 1) {
                split(uris, u, " "); print "deb " u[1] " " s[i] " " comps
              }
          }
          types = uris = suites = comps = ""
        }
        /^[ \t]*$/ { flush(); next }
        /^#/ { next }
        { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
          if (key == "types") types = $0; else if (key == "uris") uris = $0
          else if (key == "suites") suites = $0; else if (key == "components") comps = $0 }
        END { flush() }' "$file"
    else
      awk -v suite="$suite" '$1 == "deb" {
          i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
          if ($(i+1) == suite || index($(i+1), suite "-") == 1) {
            line = "deb"; for (; i <= NF; i++) line = line " " $i; print line } }' "$file"
    fi
  done
}

# Only this function, the variables it reads and the mirrors decide the base's contents, so
# they (and not the rest of this script) are its cache key.
make_base_tar() { # output tar, mirror lines...
  local out=$1; shift
  # essential + python3: no apt in the image; docs, man pages and translations are left out
  # (copyright files are kept), and so are apt's lists and caches.
  SOURCE_DATE_EPOCH=$base_epoch mmdebstrap --variant=essential --include="$base_packages" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/ldconfig/aux-cache "$1"/var/log/*' \
    --format=tar --quiet "$suite" "$out" "$@"
}

base_key() {
  { echo "$suite $base_packages $base_epoch"; debian_mirrors; declare -f make_base_tar; } | sha256sum | cut -c1-12
}

ensure_base() { # -> the base image's name, made (and its tar cached) on first use
  if [[ -n ${BALLAST_BASE_IMAGE:-} ]]; then
    echo "$BALLAST_BASE_IMAGE"
    return
  fi
  local key; key=$(base_key)
  local name=localhost/ballast-base:$suite-$key tar=$state/base/$suite-$key.tar
  if ! podman image exists "$name"; then
    if [[ ! -s $tar ]]; then
      local mirrors=(); mapfile -t mirrors < <(debian_mirrors)
      ((${#mirrors[@]})) || { log "no Debian $suite mirror in /etc/apt/sources.list*; set BALLAST_DEBIAN_MIRRORS"; exit 1; }
      log "making the $suite base with mmdebstrap from ${mirrors[*]} (cold: about 2 minutes)"
      mkdir -p "$state/base"
      local started=$SECONDS
      make_base_tar "$tar.partial" "${mirrors[@]}"
      mv "$tar.partial" "$tar"
      log "made $tar in $((SECONDS - started))s"
      # tars of earlier recipes are never used again (their images may still be, so they stay)
      find "$state/base" -maxdepth 1 -name "$suite-*.tar" ! -path "$tar" -delete
    fi
    # An imported tar has no configuration at all: give it what a Debian image has.
    podman import --quiet \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
      "$tar" "$name" >/dev/null
  fi
  echo "$name"
}

build() {
  local base; base=$(ensure_base)
  local args=(--network host --layers --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$version")
  [[ $base == localhost/* ]] && args+=(--pull=never)
  # pip in the builder checks TLS against the host's CA bundle (which may hold a proxy's CA),
  # mounted for the build only: it is in no layer. Index settings are passed the same way, as
  # build arguments the builder stage alone declares, so they are in no pushed layer or history.
  local ca=/etc/ssl/certs/ca-certificates.crt
  if [[ -f $ca ]]; then
    args+=(--volume "$ca:$ca:ro" --build-arg "PIP_CERT=$ca")
  fi
  local setting value
  for setting in index-url extra-index-url trusted-host; do
    value=$(env -u PIP_FIND_LINKS python3 -m pip config get "global.$setting" 2>/dev/null) || value=
    local var=PIP_${setting^^}; var=${var//-/_}
    value=${!var:-$value}
    [[ -n $value ]] && args+=(--build-arg "$var=$value")
  done
  log "building $image on $base"
  local started=$SECONDS
  podman build "${args[@]}" -f "$dockerfile" -t "$image" "$context" >&2
  log "built $image in $((SECONDS - started))s"
}

push() { # HOST:PORT -> prints HOST:PORT/$name@sha256:...
  local registry=${1:?usage: image.sh push HOST:PORT}
  local id; id=$(podman image inspect --format '{{.Id}}' "$image")
  local record=$state/pushed/${registry//[:\/]/_}-$id
  local ref
  if [[ -s $record ]] && ref=$(<"$record") && skopeo inspect --tls-verify=false "docker://$ref" >/dev/null 2>&1; then
    log "$image ($id) is already at $ref"
  else
    local digest_file=$state/push-$name.digest
    podman push --quiet --tls-verify=false --digestfile "$digest_file" "$image" "docker://$registry/$name:$version" >&2
    ref=$registry/$name@$(<"$digest_file")
    mkdir -p "$state/pushed"
    echo "$ref" >"$record"
  fi
  echo "$ref" >"$state/$name.ref"
  echo "$ref"
}

verify() { # IMAGE: what the chart's pods do to it (read-only root, uid 65532, no capabilities)
  local target=${1:-$image}
  local restricted=(--rm --network none --read-only --user 65532:65532 --cap-drop=ALL
                    --security-opt no-new-privileges --tmpfs /tmp:rw,size=64m --env TMPDIR=/tmp)
  podman run "${restricted[@]}" "$target" --version
  podman run "${restricted[@]}" --entrypoint /opt/ballast/bin/python "$target" -c '
import importlib.metadata as md, sys
import sklearn, skops, pyarrow, pandas, scipy, kopf, kubernetes, numpy, lightgbm, ballast
for name in ("scikit-learn", "skops", "pyarrow", "pandas", "scipy", "numpy", "lightgbm", "kopf", "kubernetes"):
    print(name, md.version(name))
assert not any(d.metadata["Name"] == "pip" for d in md.distributions()), "pip is installed"
print("python", sys.version.split()[0], "uid ok, read-only ok")'
}

lock() {
  # uv resolves for every platform and Python >=3.11 at once (--universal): one lock serves the
  # image's 3.11 (Debian) and 3.12 (python:slim), amd64 and arm64, with every wheel's hash.
  local py=$repo/.venv/bin/python
  [[ -x $py ]] || { log "no .venv: run make venv first"; exit 1; }
  "$py" -m uv --version 2>/dev/null | grep -qx "uv $uv_version" || "$py" -m pip install --quiet "uv==$uv_version"
  local compile=("$py" -m uv pip compile --universal --python-version 3.11 --only-binary :all:
                 --generate-hashes --custom-compile-command "make lock" --quiet)
  # uv keeps the versions the lock already has where they still fit; BALLAST_LOCK_UPGRADE=1
  # takes the newest instead.
  [[ -n ${BALLAST_LOCK_UPGRADE:-} ]] && compile+=(--upgrade)
  # The image installs the `all` extra (operator, ingest, training, serving, and the CLI).
  (cd "$repo" && "${compile[@]}" --extra all pyproject.toml -o operator/requirements.lock)
  # The build backend (pyproject's [build-system] requires) pinned the same way, for the
  # builder's wheel of Ballast itself; it never reaches the image.
  (cd "$repo" && "$py" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml","rb"))["build-system"]["requires"]))' \
     | "${compile[@]}" - -o operator/build-requirements.lock)
  # pip reads a constraints file that has hashes as --require-hashes for everything (and then
  # refuses an editable install), so the dev virtualenv gets the same pins without them.
  { echo "# The pins of operator/requirements.lock without hashes, for pip install -c (make lock)."
    sed -e '/^ *#/d' -e '/^ *--hash=/d' -e 's/ \\$//' "$repo/operator/requirements.lock"
  } >"$repo/operator/constraints.txt"
  # The Dask operator's image (engines/dask/Dockerfile), from its own direct requirements
  (cd "$repo/engines/dask" && "${compile[@]}" requirements.in -o requirements.lock)
}

case ${1:-build} in
  lock) lock; exit ;;
esac
ensure_tools
configure_podman
case ${1:-build} in
  build) build ;;
  base) ensure_base ;;
  push) shift; build; push "$@" ;;
  verify) shift; verify "$@" ;;
  podman) shift; podman "$@" ;;
  *) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
