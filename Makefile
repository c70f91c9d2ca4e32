# Sutra: replicated concept store and its Kubernetes operator.
#
# Every tool is pinned and installed by hack/tools.sh (or hack/envtest.sh,
# hack/promtool.sh) into a cache outside the work tree; only Go is needed.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

GO  ?= go
BIN ?= $(CURDIR)/bin
IMG ?= sutra-operator:dev
STORAGE_IMG ?= sutra-storage-server:dev

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: fmt
fmt: ## Run gofmt on the tree.
	$(GO) fmt ./...

.PHONY: fmt-check
fmt-check: ## Fail when a Go file is not gofmt-clean.
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: tidy-check
tidy-check: ## Fail when `go mod tidy` would change go.mod or go.sum (root and hack/kube/tools modules).
	@for m in . hack/kube/tools; do \
	  if ! out="$$(cd $$m && GOWORK=off GOFLAGS=-mod=mod $(GO) mod tidy -diff)"; then \
	    printf '%s\n' "$$out"; echo "tidy-check: $$m/go.mod or go.sum is not tidy; run: (cd $$m && go mod tidy)"; exit 1; \
	  fi; \
	done; echo "tidy-check: go.mod and go.sum are tidy"

.PHONY: vet
vet: ## Run go vet (e2e files included).
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e/...

.PHONY: lint
lint: ## Run golangci-lint (pinned, built from the module proxy).
	GOLANGCI_LINT="$$(hack/tools.sh golangci-lint)" && "$$GOLANGCI_LINT" run ./...

.PHONY: manifests
manifests: ## Regenerate CRDs and RBAC (and their copies in the chart).
	hack/check-generated.sh --write

.PHONY: generate
generate: manifests ## Regenerate deepcopy code (same pass as manifests).

.PHONY: generated-check
generated-check: ## Fail when CRDs, RBAC, deepcopy or chart copies are stale.
	hack/check-generated.sh

.PHONY: proto
proto: ## Regenerate internal/pb from proto/ with pinned tools.
	hack/gen-proto.sh

.PHONY: proto-check
proto-check: ## Fail when internal/pb is stale.
	hack/gen-proto.sh --check

.PHONY: helm-check
helm-check: ## helm lint and helm template the operator chart; render the kustomize tree.
	HELM="$$(hack/tools.sh helm)" && "$$HELM" lint charts/sutra-operator && \
	  "$$HELM" template sutra charts/sutra-operator --namespace sutra-system >/dev/null && \
	  "$$HELM" template sutra charts/sutra-operator --set metrics.serviceMonitor.enabled=true --set watchNamespace=apps \
	    --set monitoring.prometheusRule.enabled=true --set monitoring.grafanaDashboard.enabled=true >/dev/null
	"$$(hack/envtest.sh)/kubectl" kustomize config/default >/dev/null

.PHONY: alerts-test
alerts-test: ## promtool check and unit-test the alert rules.
	hack/promtool.sh check rules deploy/prometheus/alerts.yaml
	hack/promtool.sh check config deploy/prometheus/prometheus.yml
	cd deploy/prometheus && ../../hack/promtool.sh test rules alerts_test.yaml

.PHONY: test
test: fmt-check tidy-check vet generated-check proto-check helm-check alerts-test ## Run every test that needs no Kubernetes cluster.
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" SUTRA_ENVTEST_REQUIRED=1 $(GO) test -count=1 -timeout 20m ./...

.PHONY: test-race
test-race: ## Run the storage and replication packages, and the multi-process tests' nodes, under the race detector.
	$(GO) test -count=1 -race ./internal/...
	SUTRA_TEST_RACE=1 GORACE=halt_on_error=1 $(GO) test -count=1 -timeout 30m ./test/replication/

.PHONY: fuzz
fuzz: ## Fuzz the record, operation, epoch-history and handshake decoders for 30 s each.
	$(GO) test -run '^$$' -fuzz FuzzDecodeRecord -fuzztime 30s ./internal/wal/
	$(GO) test -run '^$$' -fuzz FuzzDecodeOp -fuzztime 30s ./internal/store/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./internal/history/
	$(GO) test -run '^$$' -fuzz FuzzForkPoint -fuzztime 30s ./internal/history/
	$(GO) test -run '^$$' -fuzz FuzzMatchLog -fuzztime 30s ./internal/replication/

.PHONY: bench
bench: ## Run the WAL, store, recovery and replica benchmarks and print figures.
	$(GO) test -run '^$$' -bench . -benchtime=3s ./internal/wal/
	$(GO) test -run '^$$' -bench 'Apply|Get|Million|ConceptHeap' -benchtime=1x ./internal/store/
	$(GO) test -run '^$$' -bench Recovery1M -benchtime=1x ./internal/engine/
	$(GO) test -run '^$$' -bench ReplicaApply -benchtime=1000000x ./internal/replication/

.PHONY: loadtest
loadtest: ## One leader + three replicas, 10,000 writes/s for 60 s (RATE, DURATION, BATCH, CONNECTIONS override).
	hack/loadtest.sh

.PHONY: loadtest-tls
loadtest-tls: ## Mutual TLS against plaintext in one run: writes/s and visibility lag (RATE, CONNECTIONS, DURATION, ROUNDS).
	hack/loadtest-tls.sh

.PHONY: bench-peers
bench-peers: ## Sutra beside durable Redis (installed from Debian when missing), one table of ratios; SHORT=1 for a smoke run.
	hack/bench-peers.sh

.PHONY: demo
demo: ## Run a leader and two replicas on 127.0.0.1, write data, show the replication table, stop.
	hack/demo.sh

.PHONY: demo-test
demo-test: ## Check that hack/demo.sh refuses ports another server holds and waits for ones a connection holds (half a minute).
	hack/demo-test.sh

.PHONY: docs-check
docs-check: ## Run the commands in the guides against a local cluster.
	hack/docs-check.sh

.PHONY: compose-test
compose-test: ## Bring up deploy/docker-compose.yml, partition a replica, check convergence, tear down.
	hack/compose-test.sh

##@ Build

.PHONY: build
build: ## Build all binaries into bin/ (static).
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/storage-server ./cmd/sutractl
	CGO_ENABLED=0 $(GO) build -o $(BIN)/manager ./cmd
	ln -sf sutractl $(BIN)/kubectl-sutra

.PHONY: run
run: ## Run the operator against the current kubeconfig.
	$(GO) run ./cmd

##@ Kubernetes end to end

.PHONY: cluster-up
cluster-up: ## Bring up a single-node cluster (existing kubeconfig, kind, or offline build).
	hack/cluster-up.sh

.PHONY: cluster-down
cluster-down: ## Tear down the cluster made by cluster-up.
	hack/cluster-down.sh

.PHONY: images
images: ## Build the operator and storage images and load them into the cluster.
	hack/images.sh

.PHONY: test-e2e
test-e2e: ## Run the e2e suite against KUBECONFIG (default: the cluster-up kubeconfig).
	KUBECONFIG="$${KUBECONFIG:-$$(cat $(HOME)/.cache/sutra/cluster/kubeconfig-path 2>/dev/null)}" \
		$(GO) test -tags e2e -count=1 -timeout 40m -v ./test/e2e/ -ginkgo.v

.PHONY: ci-e2e
ci-e2e: ## cluster-up, images, test-e2e, cluster-down (always), with step timings.
	hack/ci-e2e.sh
