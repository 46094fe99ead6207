# Ballast. `make help` lists the targets; `make demo` and `make test` are the README's two commands.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CACHE_DIR ?= $(or $(BALLAST_CACHE_DIR),$(HOME)/.cache/ballast)
export BALLAST_CACHE_DIR := $(CACHE_DIR)
# Where demo and the cluster suites run: local (tests/cluster) or kind (tests/kind)
CLUSTER ?= local
export CLUSTER
LOCAL_CLUSTER := $(PY) tests/cluster/localcluster.py
KIND_CLUSTER := $(PY) tests/kind/kindcluster.py
PYTEST_ARGS ?=

##@ General

.PHONY: help
help: ## Show the targets, by section
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
		/^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
		/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Main

.PHONY: demo
demo: venv ## The whole lifecycle on the local cluster (CLUSTER=kind: on kind), Ballast installed with Helm
	$(PY) scripts/demo.py

.PHONY: test
test: venv ## Run every test: unit tests, then those against the real local cluster
	$(PY) -m pytest $(PYTEST_ARGS)

##@ Development

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtualenv with Ballast and its test dependencies

# The same pins as the image (operator/constraints.txt), so tests run what the pods run; `all` is
# the image's extra (operator, training, serving), `test` adds the test tools.
$(VENV)/.installed: pyproject.toml operator/constraints.txt
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c operator/constraints.txt -e '.[all,test]'
	touch $@

.PHONY: lint
lint: venv ## Lint, check formatting (ruff) and types (mypy, configured in pyproject.toml); CI runs it before the tests
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: format
format: venv ## Format the code and apply ruff's safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: test-unit
test-unit: venv ## Run only the tests that need nothing but Python: no cluster, no helm or promtool
	$(PY) -m pytest -m "not cluster" $(PYTEST_ARGS)

.PHONY: test-faults
test-faults: venv ## Run only the fault suite: operator SIGKILLs, API server and etcd restarts, pod and store faults
	$(PY) -m pytest tests/faults $(PYTEST_ARGS)

.PHONY: test-badinput
test-badinput: venv ## Run only the bad-input suite: generated and mutated objects, hostile data and artifacts
	$(PY) -m pytest tests/badinput $(PYTEST_ARGS)

.PHONY: crds
crds: venv ## Generate crds/ and docs/api.md from the typed models, and the chart's copy of the CRDs
	$(PY) -m ballast.api.generate crds/
	$(PY) -m ballast.api.reference docs/api.md
	bash charts/render-crds.sh

.PHONY: check-crds
check-crds: venv ## Fail if crds/ or docs/api.md is stale
	$(PY) -m ballast.api.generate --check crds/
	$(PY) -m ballast.api.reference --check docs/api.md

.PHONY: grpc-stubs
grpc-stubs: venv ## Generate the model server's gRPC stubs (operator/ballast/serving/proto) from its .proto
	$(PY) scripts/grpc_stubs.py

.PHONY: check-grpc-stubs
check-grpc-stubs: venv ## Fail if the gRPC stubs are stale
	$(PY) scripts/grpc_stubs.py --check

.PHONY: docs
docs: $(VENV)/.docs-installed ## Build the docs site into build/site (mkdocs --strict: a broken link or anchor fails)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

# mkdocs and its theme, pinned in docs/mkdocs/requirements.txt, within the image's pins
$(VENV)/.docs-installed: $(VENV)/.installed docs/mkdocs/requirements.txt
	$(PY) -m pip install --quiet -c operator/constraints.txt -r docs/mkdocs/requirements.txt
	touch $@

.PHONY: run
run: venv ## Run the operator locally against the cluster KUBECONFIG names
	$(VENV)/bin/ballast operator --verbose

##@ Packaging

.PHONY: chart-crds
chart-crds: ## Re-render the chart's CRD templates from crds/
	bash charts/render-crds.sh

.PHONY: chart-lint
chart-lint: cluster-binaries ## helm lint the chart (helm is built from its Go module with the cluster binaries)
	$(CACHE_DIR)/bin/current/helm lint --strict charts/ballast

.PHONY: manifests
manifests: cluster-binaries ## Render the kustomize base manifests/base from the chart (manifests/values.yaml)
	HELM=$(CACHE_DIR)/bin/current/helm bash manifests/render.sh

.PHONY: image
image: ## Build localhost/ballast:<version> with podman on a Debian base made from packages (scripts/image.sh)
	bash scripts/image.sh build

.PHONY: image-push
image-push: ## Build, then push to REGISTRY=HOST:PORT by digest; prints HOST:PORT/ballast@sha256:...
	@test -n "$(REGISTRY)" || { echo "usage: make image-push REGISTRY=HOST:PORT" >&2; exit 2; }
	bash scripts/image.sh build
	bash scripts/image.sh push $(REGISTRY)

.PHONY: dask-operator-image
dask-operator-image: ## Build localhost/dask-kubernetes-operator:<version> (engines/dask) on the same base
	bash scripts/image.sh dask-operator build

.PHONY: lock
lock: venv ## Regenerate operator/requirements.lock, build-requirements.lock and constraints.txt from pyproject.toml
	bash scripts/image.sh lock

##@ Local cluster

.PHONY: cluster-binaries
cluster-binaries: ## Build (or reuse from the cache) kube-apiserver, etcd, kubectl, kwok, helm...
	bash tests/cluster/build.sh

.PHONY: prometheus-binaries
prometheus-binaries: ## Build (or reuse from the cache) prometheus and promtool, for drift from Prometheus
	bash tests/prometheus/build.sh

.PHONY: cluster
cluster: venv ## Start the local cluster: control plane, kubelet on containerd, registry; prints the kubeconfig path
	$(LOCAL_CLUSTER) up

.PHONY: dask-operator
dask-operator: venv ## Install the Dask operator (its chart, the image built here) into DASK_NAMESPACE (dask-operator) of the local cluster
	KUBECONFIG=$${KUBECONFIG:-$$($(LOCAL_CLUSTER) kubeconfig)} bash scripts/dask-operator.sh install \
		$(or $(DASK_NAMESPACE),dask-operator) $(or $(REGISTRY),$$($(LOCAL_CLUSTER) registry))

.PHONY: cluster-down
cluster-down: venv ## Stop every container, the node, the registry and the control plane, and delete the cluster
	-$(PY) scripts/demo.py --stop
	$(LOCAL_CLUSTER) down

.PHONY: cluster-status
cluster-status: venv ## Show the local cluster's processes, their logs and the node
	$(LOCAL_CLUSTER) status

.PHONY: kind-up
kind-up: venv ## Start kind (podman provider) on a node image built here; prints the kubeconfig path
	$(KIND_CLUSTER) up

.PHONY: kind-down
kind-down: venv ## Delete the kind cluster (built images stay cached)
	$(KIND_CLUSTER) down

##@ Benchmarks

BENCH_ARGS ?=

.PHONY: bench-scale
bench-scale: venv ## 2,000 objects, pods on KWOK nodes: reconcile latency, RSS, API requests, 429s, resync (BENCH_ARGS=...)
	$(PY) benchmarks/scale.py $(BENCH_ARGS)

.PHONY: bench-soak
bench-soak: venv ## A steady change rate for 30 min (BENCH_ARGS="--minutes 5"): RSS growth and latency over time
	$(PY) benchmarks/soak.py $(BENCH_ARGS)
