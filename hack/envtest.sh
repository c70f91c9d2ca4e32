#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/envtest.sh prints a directory usable as KUBEBUILDER_ASSETS (it holds
# kube-apiserver, etcd and kubectl). Only the path goes to stdout; progress and
# build logs go to stderr.
#
#   export KUBEBUILDER_ASSETS="$(hack/envtest.sh)"
#
# Resolution order:
#   1. $KUBEBUILDER_ASSETS, when it is set and holds the three binaries.
#   2. The setup-envtest store (${XDG_DATA_HOME:-~/.local/share}/kubebuilder-envtest/
#      k8s/<version>-linux-amd64/), when the binaries are already there.
#   3. `setup-envtest use <minor>.x -p path`, for machines that can download
#      the upstream release (setup-envtest from PATH or hack/tools.sh).
#   4. An offline build from the Go module proxy at pinned versions, installed
#      into the store of step 2 so later runs (and setup-envtest) reuse it:
#        - kube-apiserver and kubectl from k8s.io/kubernetes, through a wrapper
#          module that replaces every staging module with its published
#          v0.<minor>.<patch> (k8s.io/kubernetes itself cannot be `go install`ed:
#          its go.mod replaces staging modules with local paths);
#        - etcd through a wrapper whose main calls etcdmain.Main.
#      Cold, on 2 cores, this takes 10-20 minutes. All build work happens in a
#      temporary directory outside the repository.
set -euo pipefail

K8S_VERSION="${ENVTEST_K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ENVTEST_ETCD_VERSION:-v3.6.16}"

K8S_MINOR="${K8S_VERSION%.*}"        # 1.37
STAGING_VERSION="v0.${K8S_VERSION#1.}" # v0.37.2
GOOS_ARCH="$(go env GOOS 2>/dev/null || echo linux)-$(go env GOARCH 2>/dev/null || echo amd64)"
BIN_DIR="${ENVTEST_BIN_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest}"
STORE_DIR="${BIN_DIR}/k8s/${K8S_VERSION}-${GOOS_ARCH}"
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf 'envtest.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

has_assets() {
	local d=$1
	[[ -n "$d" && -x "$d/kube-apiserver" && -x "$d/etcd" && -x "$d/kubectl" ]]
}

# 1. Explicit assets.
if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
	has_assets "${KUBEBUILDER_ASSETS}" || die "KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS} lacks kube-apiserver, etcd or kubectl"
	printf '%s\n' "${KUBEBUILDER_ASSETS}"
	exit 0
fi

# 2. Already in the store.
if has_assets "${STORE_DIR}"; then
	printf '%s\n' "${STORE_DIR}"
	exit 0
fi

# 3. setup-envtest, when it can download.
setup_envtest=""
if command -v setup-envtest >/dev/null 2>&1; then
	setup_envtest="$(command -v setup-envtest)"
elif [[ -x "${HACK_DIR}/tools.sh" ]]; then
	setup_envtest="$("${HACK_DIR}/tools.sh" setup-envtest 2>/dev/null || true)"
fi
if [[ -n "${setup_envtest}" ]]; then
	log "trying ${setup_envtest} use ${K8S_MINOR}.x"
	if path="$("${setup_envtest}" use "${K8S_MINOR}.x" --bin-dir "${BIN_DIR}" -p path 2>/dev/null)" && has_assets "${path}"; then
		printf '%s\n' "${path}"
		exit 0
	fi
	log "setup-envtest could not provide ${K8S_MINOR}.x (offline?); building from the Go module proxy"
fi

# 4. Offline build. Serialise concurrent runs: the second one waits and reuses.
command -v go >/dev/null 2>&1 || die "go is not on PATH"
mkdir -p "${BIN_DIR}"
exec 9>"${BIN_DIR}/.sutra-envtest-${K8S_VERSION}.lock"
if command -v flock >/dev/null 2>&1; then
	log "waiting for the build lock ${BIN_DIR}/.sutra-envtest-${K8S_VERSION}.lock"
	flock 9
fi
if has_assets "${STORE_DIR}"; then
	printf '%s\n' "${STORE_DIR}"
	exit 0
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sutra-envtest.XXXXXX")"
trap 'rm -rf "${WORK}"' EXIT
OUT="${WORK}/out"
mkdir -p "${OUT}"

export GOWORK=off GOFLAGS="-mod=mod" CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GONOSUMDB="${GONOSUMDB:-}"

# --- Kubernetes: kube-apiserver and kubectl -----------------------------------
build_kubernetes() {
	local dir="${WORK}/k8s"
	mkdir -p "${dir}"
	cd "${dir}"
	log "downloading k8s.io/kubernetes@v${K8S_VERSION} from the module proxy"
	go mod init sutra.local/envtest-k8s >/dev/null 2>&1
	local info src
	info="$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}")" || die "go mod download k8s.io/kubernetes@v${K8S_VERSION} failed"
	src="$(printf '%s\n' "${info}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
	[[ -d "${src}" ]] || die "module directory for k8s.io/kubernetes not found"

	# The replace block of kubernetes' go.mod names every staging module.
	local staging
	staging="$(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/src/.*#\1#p' "${src}/go.mod" | sort -u)"
	[[ -n "${staging}" ]] || die "no staging replace directives found in ${src}/go.mod"
	log "replacing $(printf '%s\n' "${staging}" | wc -l) staging modules with ${STAGING_VERSION}"

	local gover
	gover="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "${src}/go.mod" | head -1)"
	{
		echo "module sutra.local/envtest-k8s"
		echo
		echo "go ${gover:-1.26.0}"
		echo
		echo "require k8s.io/kubernetes v${K8S_VERSION}"
		echo
		echo "replace ("
		local m
		for m in ${staging}; do echo "	${m} => ${m} ${STAGING_VERSION}"; done
		echo ")"
	} >go.mod

	local c
	for c in kube-apiserver kubectl; do
		mkdir -p "cmd/${c}"
		cp "${src}/cmd/${c}/"*.go "cmd/${c}/"
		rm -f "cmd/${c}/"*_test.go
		chmod u+w "cmd/${c}/"*.go
	done

	log "resolving dependencies (go mod tidy in ${dir})"
	go mod tidy >&2 || die "go mod tidy for the kubernetes wrapper failed"

	local ld="-s -w"
	local p
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X ${p}.gitVersion=v${K8S_VERSION}"
		ld+=" -X ${p}.gitMajor=${K8S_VERSION%%.*}"
		ld+=" -X ${p}.gitMinor=$(echo "${K8S_VERSION}" | cut -d. -f2)"
		ld+=" -X ${p}.gitTreeState=clean"
		ld+=" -X ${p}.buildDate=1970-01-01T00:00:00Z"
	done
	for c in kube-apiserver kubectl; do
		log "building ${c} v${K8S_VERSION} (several minutes on 2 cores)"
		go build -trimpath -ldflags "${ld}" -o "${OUT}/${c}" "./cmd/${c}" >&2 || die "building ${c} failed"
	done
}

# --- etcd ----------------------------------------------------------------------
build_etcd() {
	local dir="${WORK}/etcd"
	mkdir -p "${dir}"
	cd "${dir}"
	cat >go.mod <<EOF
module sutra.local/envtest-etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
EOF
	cat >main.go <<'EOF'
// Command etcd runs the etcd server; it exists so envtest can use an etcd
// built from the Go module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
	log "building etcd ${ETCD_VERSION}"
	go mod tidy >&2 || die "go mod tidy for the etcd wrapper failed"
	go build -trimpath -ldflags "-s -w" -o "${OUT}/etcd" . >&2 || die "building etcd failed"
}

start=$(date +%s)
build_etcd
build_kubernetes

"${OUT}/kube-apiserver" --version >&2 || die "kube-apiserver does not run"
"${OUT}/etcd" --version >&2 || die "etcd does not run"

mkdir -p "${STORE_DIR}"
for b in etcd kube-apiserver kubectl; do
	install -m 0755 "${OUT}/${b}" "${STORE_DIR}/${b}.tmp"
	mv -f "${STORE_DIR}/${b}.tmp" "${STORE_DIR}/${b}"
done
log "installed envtest binaries into ${STORE_DIR} in $(($(date +%s) - start))s"
printf '%s\n' "${STORE_DIR}"
