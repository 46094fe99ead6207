{{/* Names, labels and RBAC rules shared by the chart's templates. */}}

{{- define "ballast.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every resource name; the release name alone when it already says "ballast". */}}
{{- define "ballast.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ballast.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every resource of the release carries. */}}
{{- define "ballast.labels" -}}
app.kubernetes.io/name: {{ include "ballast.name" . }}
app.kubernetes.io/part-of: ballast
{{ include "ballast.releaseLabels" . }}
{{- end }}

{{/* The release's part of them, alone for the CRDs, whose name and part-of labels come
with the generated files. */}}
{{- define "ballast.releaseLabels" -}}
helm.sh/chart: {{ include "ballast.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The operator's pod: what its Deployment, Service and NetworkPolicy select. The component
keeps it apart from the serving pods the operator creates, which also say name=ballast. */}}
{{- define "ballast.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ballast.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "ballast.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ballast.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference from {repository, tag, digest}, falling back to the top-level image. */}}
{{- define "ballast.imageRef" -}}
{{- $root := index . 0 }}{{- $image := index . 1 }}
{{- $repository := default $root.Values.image.repository $image.repository }}
{{- $digest := default $root.Values.image.digest $image.digest }}
{{- if $digest }}
{{- printf "%s@%s" $repository $digest }}
{{- else }}
{{- printf "%s:%s" $repository (default (default $root.Chart.AppVersion $root.Values.image.tag) $image.tag) }}
{{- end }}
{{- end }}

{{- define "ballast.operatorImage" -}}
{{- include "ballast.imageRef" (list . .Values.image) }}
{{- end }}

{{- define "ballast.workloadImage" -}}
{{- include "ballast.imageRef" (list . .Values.workloads.image) }}
{{- end }}

{{/* Where a file:// store is mounted (its path), empty for any other scheme. Mirrors
Settings.store_mount_path in operator/ballast/settings.py. */}}
{{- define "ballast.storeMountPath" -}}
{{- if hasPrefix "file://" .Values.store.uri }}
{{- $path := trimPrefix "file://" .Values.store.uri }}
{{- if not (hasPrefix "/" $path) }}
{{- fail (printf "store.uri %q: a file:// store needs an absolute path (file:///path)" .Values.store.uri) }}
{{- end }}
{{- $path }}
{{- end }}
{{- end }}

{{/* Rules the operator needs in every namespace it watches. Each one is named by the code
that needs it; the chart README explains them. Shared by the ClusterRole (cluster-wide mode)
and the per-namespace Roles (namespaced mode). */}}
{{- define "ballast.namespacedRules" -}}
# kopf watches the four kinds (handlers/triggers.py); each reconcile reads its object afresh
# (handlers/runner.py), and takes off the finalizer older versions put on it
- apiGroups: [ballast.dev]
  resources: [datasets, trainingruns, modelversions, driftpolicies]
  verbs: [get, list, watch, patch]
# each reconcile writes status through the status subresource (kube.patch_status)
- apiGroups: [ballast.dev]
  resources: [datasets/status, trainingruns/status, modelversions/status, driftpolicies/status]
  verbs: [patch]
# a TrainingRun that passes its gates registers a ModelVersion, and a DriftPolicy's firing
# creates a TrainingRun from its template; kube.create_custom_object
- apiGroups: [ballast.dev]
  resources: [modelversions, trainingruns]
  verbs: [create]
# owner references with blockOwnerDeletion on Jobs, Deployments and Services, for clusters
# that enable the OwnerReferencesPermissionEnforcement admission plugin
- apiGroups: [ballast.dev]
  resources: [datasets/finalizers, trainingruns/finalizers, modelversions/finalizers]
  verbs: [update]
# ingest and training Jobs: the ballast_jobs index, kube.create_job, kube.delete_job
- apiGroups: [batch]
  resources: [jobs]
  verbs: [list, watch, create, delete]
# a TrainingRun with spec.compute trains in a DaskJob of the dask-kubernetes operator
# (kube.create_engine_object), deleted past its deadline; it is followed through its pods only
- apiGroups: [kubernetes.dask.org]
  resources: [daskjobs]
  verbs: [create, delete]
# the Jobs' and serving pods' state: the ballast_job_pods and serving_pods indexes
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
# the artifact store's claim per namespace (kube.ensure_claim), and the labels of a claim a
# Dataset's pvc source names (handlers/source_objects.py)
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, create]
# the labels of a Secret a Dataset's objectStore.secretRef names, read as metadata only
# (handlers/source_objects.py): get alone, never list or watch
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# serving Deployments: the ballast_deployments index and server-side apply (an apply that
# creates the object needs create besides patch)
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, create, patch]
# the serving pods' ReplicaSets: the serving_replica_sets index, the middle link of the owner
# chain a pod must have before its /metrics is read (canary/pods.py)
- apiGroups: [apps]
  resources: [replicasets]
  verbs: [list, watch]
# each model's Service, kept by server-side apply; watched so that one deleted behind
# Ballast's back is applied again; read by name before each apply, which touches it only if
# it is absent or Ballast's (reconcile/service_claim.py)
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch]
# each serving version's and each Dataset's ingest NetworkPolicy, kept by server-side apply
# (build/serving_network_policy.py, build/ingest_network_policy.py); watched so that one
# deleted by hand is applied again (handlers/network_policies.py)
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [list, watch, create, patch]
# each autoscaled Production version's HorizontalPodAutoscaler, kept by server-side apply
# (build/autoscaler.py) and deleted when autoscaling is switched off or the version leaves
# Production; never read or watched (the Deployment's spec hash says when to apply it)
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [create, patch, delete]
# the namespace's feedback token Secret (build/feedback_token.py) and each Dataset's ingest input
# (build/ingest_input.py), created when absent (kube.create_secret_if_absent): create only, never
# updated, patched or deleted (an ingest input goes with its Dataset, its owner)
- apiGroups: [""]
  resources: [secrets]
  verbs: [create]
# Events on Ballast objects, from Ballast and kopf (core/v1, create only)
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{/* kopf's own cluster-scoped reads: it watches CustomResourceDefinitions to notice the four
kinds appear or change (kopf/_core/reactor/observation.py, resource_observer). */}}
{{- define "ballast.crdRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- end }}

{{/* The operator lists the cluster's service and pod ranges once at start, so that URLs read on
a user's behalf cannot reach them (ballast/net/discovery.py); cluster-scoped, in both modes. */}}
{{- define "ballast.egressDiscoveryRules" -}}
{{- if .Values.egress.discoverClusterCIDRs }}
- apiGroups: [networking.k8s.io]
  resources: [servicecidrs]
  verbs: [list]
- apiGroups: [""]
  resources: [nodes]
  verbs: [list]
{{- end }}
{{- end }}

{{/* With listed namespaces kopf also lists and watches Namespaces, to notice a watched one
being created or deleted (observation.py, namespace_observer); cluster-wide it does not. */}}
{{- define "ballast.namespaceRules" -}}
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}

{{/* The retention CronJob's objects (retention-*.yaml): its own name, ServiceAccount and RBAC,
apart from the operator's, so `ballast gc` holds only what it reads. */}}
{{/* At most 52 characters: the CronJob controller appends an 11-character suffix to name its Jobs. */}}
{{- define "ballast.retentionName" -}}
{{- printf "%s-retention" (include "ballast.fullname" . | trunc 42 | trimSuffix "-") }}
{{- end }}

{{- define "ballast.retentionServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ballast.retentionName" .) .Values.retention.serviceAccountName }}
{{- else }}
{{- required "retention.serviceAccountName is required when serviceAccount.create is false (or set retention.enabled=false)" .Values.retention.serviceAccountName }}
{{- end }}
{{- end }}

{{/* What `ballast gc` reads in each namespace it collects: the four kinds, to know what still
references the store (commands/gc.py read_live_objects). list only: it never watches, gets by
name or writes. */}}
{{- define "ballast.retentionRules" -}}
- apiGroups: [ballast.dev]
  resources: [datasets, trainingruns, modelversions, driftpolicies]
  verbs: [list]
{{- end }}

{{/* The Role and RoleBinding for the leader Lease: apart from the namespaced mode's Role of the
same fullname, which a watched release namespace would otherwise collide with. */}}
{{- define "ballast.leaderElectionName" -}}
{{- printf "%s-leader-election" (include "ballast.fullname" . | trunc 47 | trimSuffix "-") }}
{{- end }}
