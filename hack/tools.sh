#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/tools.sh installs the project's pinned developer tools and prints the
# absolute path of the requested binary on stdout (progress goes to stderr).
#
#   hack/tools.sh <tool>          install if missing, print the binary path
#   hack/tools.sh list            print "<tool> <version>" for every tool
#   hack/tools.sh all             install every tool, print each path
#
# Go tools are built with `GOBIN=<dir> go install <pkg>@<version>` into
#   ${SUTRA_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sutra/tools}/<tool>-<version>/
# which lives outside the work tree, so several checkouts share one build and
# bumping a version below installs side by side. An existing binary is reused.
#
# Protobuf code is generated with buf (a Go module, built like the others),
# which compiles the .proto files itself and runs protoc-gen-go and
# protoc-gen-go-grpc as local plugins: no protoc is needed. `protoc` remains
# as a fallback tool only, for hack/gen-proto.sh when buf cannot be built; it
# is not part of `all`, and it installs Debian's protobuf-compiler with
# apt-get (as root) only when `protoc` is not already on PATH.
#
# Makefile use:  PROTOC_GEN_GO := $(shell hack/tools.sh protoc-gen-go)
set -euo pipefail

# Pinned versions. Each was checked to be served by the Go module proxy and to
# build with the Go toolchain in go.mod (go1.26, GOTOOLCHAIN=local).
PROTOC_GEN_GO_VERSION=v1.36.12      # matches google.golang.org/protobuf in go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
BUF_VERSION=v1.75.0                 # compiles proto/ itself; no protoc needed
GOLANGCI_LINT_VERSION=v2.15.0
CONTROLLER_GEN_VERSION=v0.23.0      # built on k8s.io/* v0.37, like go.mod
HELM_VERSION=v3.22.0
SETUP_ENVTEST_VERSION=v0.25.1       # newest setup-envtest module the proxy serves

TOOLS_DIR="${SUTRA_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sutra/tools}"

log() { printf 'tools.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# go_tool NAME VERSION PACKAGE: install PACKAGE@VERSION as NAME-VERSION/NAME.
go_tool() {
	local name=$1 version=$2 pkg=$3
	local dir="${TOOLS_DIR}/${name}-${version}"
	local bin="${dir}/${name}"
	if [[ ! -x "${bin}" ]]; then
		command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go (see go.mod for the version)"
		mkdir -p "${dir}"
		log "installing ${pkg}@${version} into ${dir} (first run only; may take a few minutes)"
		# Build outside any module so the project's go.mod does not affect the tool's deps.
		(cd "${dir}" && GOBIN="${dir}" GOFLAGS=-mod=mod GOWORK=off go install "${pkg}@${version}") >&2 ||
			die "go install ${pkg}@${version} failed"
		[[ -x "${bin}" ]] || die "go install ${pkg}@${version} did not produce ${bin}"
	fi
	printf '%s\n' "${bin}"
}

protoc_tool() {
	if ! command -v protoc >/dev/null 2>&1; then
		command -v apt-get >/dev/null 2>&1 ||
			die "protoc not found and apt-get is unavailable; install protoc 3.21+ (Debian/Ubuntu: protobuf-compiler) and put it on PATH"
		local sudo=()
		if [[ $(id -u) -ne 0 ]]; then
			command -v sudo >/dev/null 2>&1 || die "protoc not found; run as root or install protobuf-compiler yourself"
			sudo=(sudo)
		fi
		log "protoc not found; installing Debian's protobuf-compiler with apt-get"
		{
			"${sudo[@]}" apt-get update -q &&
				DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
					protobuf-compiler libprotobuf-dev
		} >&2 || die "apt-get install protobuf-compiler failed"
		command -v protoc >/dev/null 2>&1 || die "protoc still not on PATH after apt-get install"
	fi
	command -v protoc
}

install_one() {
	case "$1" in
	protoc) protoc_tool ;;
	buf) go_tool buf "${BUF_VERSION}" github.com/bufbuild/buf/cmd/buf ;;
	protoc-gen-go) go_tool protoc-gen-go "${PROTOC_GEN_GO_VERSION}" google.golang.org/protobuf/cmd/protoc-gen-go ;;
	protoc-gen-go-grpc) go_tool protoc-gen-go-grpc "${PROTOC_GEN_GO_GRPC_VERSION}" google.golang.org/grpc/cmd/protoc-gen-go-grpc ;;
	golangci-lint) go_tool golangci-lint "${GOLANGCI_LINT_VERSION}" github.com/golangci/golangci-lint/v2/cmd/golangci-lint ;;
	controller-gen) go_tool controller-gen "${CONTROLLER_GEN_VERSION}" sigs.k8s.io/controller-tools/cmd/controller-gen ;;
	helm) go_tool helm "${HELM_VERSION}" helm.sh/helm/v3/cmd/helm ;;
	setup-envtest) go_tool setup-envtest "${SETUP_ENVTEST_VERSION}" sigs.k8s.io/controller-runtime/tools/setup-envtest ;;
	esac
}

TOOLS=(buf protoc-gen-go protoc-gen-go-grpc golangci-lint controller-gen helm setup-envtest)
# Accepted by name but not installed by `all`.
FALLBACK_TOOLS=(protoc)

usage() {
	cat >&2 <<EOF
usage: $0 <tool>|list|all
tools: ${TOOLS[*]} (fallback, not in all: ${FALLBACK_TOOLS[*]})
install dir: ${TOOLS_DIR} (override with SUTRA_TOOLS_DIR)
EOF
}

main() {
	[[ $# -eq 1 ]] || { usage; exit 2; }
	case "$1" in
	list)
		printf '%s\n' \
			"buf ${BUF_VERSION}" \
			"protoc system (fallback only: Debian protobuf-compiler)" \
			"protoc-gen-go ${PROTOC_GEN_GO_VERSION}" \
			"protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION}" \
			"golangci-lint ${GOLANGCI_LINT_VERSION}" \
			"controller-gen ${CONTROLLER_GEN_VERSION}" \
			"helm ${HELM_VERSION}" \
			"setup-envtest ${SETUP_ENVTEST_VERSION}"
		;;
	all)
		local t
		for t in "${TOOLS[@]}"; do install_one "$t"; done
		;;
	-h | --help | help) usage ;;
	*)
		local t
		for t in "${TOOLS[@]}" "${FALLBACK_TOOLS[@]}"; do
			if [[ "$t" == "$1" ]]; then
				install_one "$1"
				return
			fi
		done
		log "unknown tool: $1"
		usage
		exit 2
		;;
	esac
}

main "$@"
