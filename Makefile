# Sutra: replicated concept store and its Kubernetes operator.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

GO       ?= go
GOFLAGS  ?=
BIN      ?= $(CURDIR)/bin
# Packages whose tests need nothing but Go (no API server, no cluster).
UNIT_PKGS ?= ./internal/... ./cmd/... ./test/replication/...

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

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: test
test: vet ## Run every test that needs no Kubernetes cluster.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) test -count=1 $(UNIT_PKGS)

.PHONY: bench
bench: ## Run the storage benchmarks and print figures.
	$(GO) test -run '^$$' -bench . -benchmem -benchtime=2s ./internal/wal/ ./internal/store/

.PHONY: demo
demo: ## Run a leader and two replicas on 127.0.0.1, write data, show the replication table, stop.
	hack/demo.sh

.PHONY: proto
proto: ## Regenerate internal/pb from proto/ with pinned tools.
	hack/gen-proto.sh

.PHONY: lint
lint: ## Run golangci-lint (pinned, built from the module proxy).
	$$(hack/tools.sh golangci-lint) run ./...

##@ Build

.PHONY: build
build: ## Build all binaries into bin/.
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...
