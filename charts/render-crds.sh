#!/usr/bin/env bash
# Renders the chart's CRD templates from the repository's generated crds/*.yaml, the single
# source of the API: each CRD becomes one template, unchanged except for an on/off switch
# (crds.install), the helm.sh/resource-policy: keep annotation (crds.keep) and the release's
# labels. tests/unit/test_chart.py fails when the chart's copy is stale.
#
#   charts/render-crds.sh [output-dir]   (default: charts/ballast/templates/crds)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$repo/charts/ballast/templates/crds}
mkdir -p "$out"
rm -f "$out"/*.yaml

for source in "$repo"/crds/*.yaml; do
  name=$(basename "$source")
  if grep -q '{{\|}}' "$source"; then
    echo "$source contains {{ or }}, which Helm would read as a template action" >&2
    exit 1
  fi
  # The generated file has a top-level `metadata:` whose `labels:` map is at two spaces;
  # the release's labels go at its end and the annotations right after `metadata:`.
  awk -v source="crds/$name" '
    BEGIN {
      print "{{- /* Rendered from " source " by charts/render-crds.sh. Do not edit by hand. */}}"
      print "{{- if .Values.crds.install }}"
    }
    /^#/ && NR == 1 { next }  # the generator'"'"'s own "do not edit" header
    /^metadata:$/ {
      print; in_metadata = 1
      print "  {{- if .Values.crds.keep }}"
      print "  annotations:"
      print "    # uninstalling the chart must not delete every Dataset, TrainingRun, ModelVersion, DriftPolicy"
      print "    helm.sh/resource-policy: keep"
      print "  {{- end }}"
      next
    }
    in_metadata && /^  labels:$/ { print; in_labels = 1; next }
    in_labels && !/^    / {
      print "    {{- include \"ballast.releaseLabels\" . | nindent 4 }}"
      in_labels = 0; in_metadata = 0; labelled = 1
    }
    { print }
    END {
      if (!labelled) { print "no metadata.labels in " source > "/dev/stderr"; exit 1 }
      print "{{- end }}"
    }
  ' "$source" > "$out/$name"
done
