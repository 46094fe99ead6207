#!/usr/bin/env bash
# Installs the dask-kubernetes operator, the engine Ballast trains on beyond one pod, into one
# namespace of a cluster: its image built here (scripts/image.sh dask-operator: engines/dask,
# on Ballast's Debian base, from the package index) and pushed by digest, and its own Helm chart
# taken from the very wheel that image runs, with engines/dask/values.yaml (namespaced RBAC,
# restricted Pod Security).
#
#   scripts/dask-operator.sh install NAMESPACE REGISTRY   (make dask-operator)
#       build and push the image, then `helm upgrade --install` the chart into NAMESPACE (made
#       and labelled restricted when missing) and wait for the operator's pod to be Ready;
#       prints the image reference
#   scripts/dask-operator.sh chart DIR     copy the chart out of the image into DIR/; prints its path
#
# KUBECONFIG names the cluster; HELM the helm binary (default: the local cluster's, which
# tests/cluster/build.sh builds). The release is named dask-operator.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_root=${BALLAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ballast}
helm=${HELM:-$cache_root/bin/current/helm}
kubectl=${KUBECTL:-$cache_root/bin/current/kubectl}
[[ -x $kubectl ]] || kubectl=kubectl
image_sh=(bash "$repo/scripts/image.sh" dask-operator)
release=dask-operator
# Where pip put the chart inside the image (the venv's site-packages, Debian's python3.11 or
# python:3.12-slim's python3.12: the glob finds either)
chart_in_image='/opt/dask-operator/lib/python3*/site-packages/dask_kubernetes/operator/deployment/helm/dask-kubernetes-operator'

log() { echo "dask-operator.sh: $*" >&2; }

lock_version() { sed -n 's/^dask-kubernetes==\([^ ]*\).*$/\1/p' "$repo/engines/dask/requirements.lock"; }

chart() { # DIR -> prints DIR/dask-kubernetes-operator, copied from the built image
  local into=${1:?usage: dask-operator.sh chart DIR}
  "${image_sh[@]}" build
  local image=localhost/dask-kubernetes-operator:$(lock_version)
  # the path has a glob in it (the venv's python3.X): the image's own shell resolves it
  local path; path=$("${image_sh[@]}" podman run --rm --network none --entrypoint /bin/sh "$image" -c "echo $chart_in_image")
  local container; container=$("${image_sh[@]}" podman create --entrypoint /bin/sh "$image")
  mkdir -p "$into"
  rm -rf "$into/dask-kubernetes-operator"
  "${image_sh[@]}" podman cp "$container:$path" "$into/dask-kubernetes-operator" >&2
  "${image_sh[@]}" podman rm "$container" >/dev/null
  echo "$into/dask-kubernetes-operator"
}

install() { # NAMESPACE REGISTRY -> prints the image reference the operator runs
  local namespace=${1:?usage: dask-operator.sh install NAMESPACE REGISTRY} registry=${2:?usage: dask-operator.sh install NAMESPACE REGISTRY}
  local reference; reference=$("${image_sh[@]}" push "$registry" | tail -n1)
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  local chart_dir; chart_dir=$(chart "$work")
  if ! "$kubectl" get namespace "$namespace" >/dev/null 2>&1; then
    "$kubectl" create namespace "$namespace" >&2
    "$kubectl" label namespace "$namespace" pod-security.kubernetes.io/enforce=restricted \
      pod-security.kubernetes.io/enforce-version=latest >&2
  fi
  # The chart writes "{{ image.name }}:{{ image.tag }}": a tag of "<version>@sha256:..." makes
  # that "<repository>:<version>@sha256:...", which the node pulls by digest.
  local repository=${reference%@*} digest=${reference#*@}
  local version; version=$(lock_version)
  log "installing $reference into $namespace"
  # The CRDs come from the chart's crds/ directory: Helm creates them server-side when missing
  # (too large for kubectl's client-side apply) and never changes or deletes them after.
  "$helm" upgrade --install "$release" "$chart_dir" --namespace "$namespace" \
    --values "$repo/engines/dask/values.yaml" \
    --set "image.name=$repository" --set "image.tag=$version@$digest" \
    --set-json "kopfArgs=[\"--standalone\",\"--namespace=$namespace\"]" \
    --wait --timeout 180s >&2
  # The chart's pod has no readiness probe, so Ready only means started; kopf answers on its
  # liveness endpoint once its startup handlers have run and it is watching.
  local deployment=deployment/$release-dask-kubernetes-operator started=$SECONDS
  until "$kubectl" --namespace "$namespace" exec "$deployment" -- python3 -c \
      'import urllib.request; urllib.request.urlopen("http://127.0.0.1:8080/healthz", timeout=5)' >/dev/null 2>&1; do
    if ((SECONDS - started > 120)); then
      log "the operator is not up after 120 s; its log:"
      "$kubectl" --namespace "$namespace" logs "$deployment" --tail=40 >&2 || true
      exit 1
    fi
    sleep 2
  done
  echo "$reference"
}

case ${1:-} in
  install) shift; install "$@" ;;
  chart) shift; chart "$@" ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
