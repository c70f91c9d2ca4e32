#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/kube/build.sh builds everything the offline single-node cluster runs,
# from the Go module proxy, into ${KUBE_CACHE} (default
# ~/.cache/sutra/kube/v<k8s version>/), and prints that directory on stdout.
# A component already in the cache is not rebuilt.
#
#   bin/    etcd kube-apiserver kube-controller-manager kube-scheduler kubelet
#           kube-proxy kubectl coredns crictl imagebuild hostpath-provisioner pause
#   images/ pause.tar coredns.tar  (docker-save tarballs for `ctr images import`)
#
# Kubernetes components come from a wrapper module (generated in a temporary
# directory) that requires k8s.io/kubernetes and replaces every staging module
# with its published v0.x.y, exactly as hack/envtest.sh does; binaries that
# hack/envtest.sh already put in the setup-envtest store are reused. Cold, on
# 2 shared cores, this takes 15-25 minutes; the Go build cache is shared with
# hack/envtest.sh, so whichever runs second is faster. etcd is keyed by
# SUTRA_ETCD_VERSION too: a cached etcd that reports another version is rebuilt.
#
#   hack/kube/build.sh [STEP...]               fill the cache (default: all steps)
#   hack/kube/build.sh --check-cold [STEP...]  build STEPs (default: etcd tools)
#       into a fresh, empty cache directory, as on a machine where neither this
#       script nor hack/envtest.sh has run, check the binaries run, then delete
#       it. The Go module and build caches are shared as usual: what this checks
#       is the script's own cold path, not the compiler's. CI runs it.
set -euo pipefail
HACK_KUBE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCRIPT_NAME=kube/build.sh

check_cold=false
if [[ "${1:-}" == --check-cold ]]; then
	check_cold=true
	shift
	[[ $# -gt 0 ]] || set -- etcd tools
	SUTRA_CACHE="$(mktemp -d "${TMPDIR:-/tmp}/sutra-kube-cold.XXXXXX")"
	export SUTRA_CACHE
fi
# shellcheck source=hack/kube/lib.sh
source "${HACK_KUBE}/lib.sh"
if ${check_cold}; then
	# Nothing to reuse from the setup-envtest store either.
	ENVTEST_STORE="${SUTRA_CACHE}/empty-envtest-store"
fi

# kube-apiserver and kubectl last: hack/envtest.sh may be building them already.
K8S_COMPONENTS=(kube-controller-manager kube-scheduler kubelet kube-proxy kube-apiserver kubectl)
STAGING_VERSION="v0.${SUTRA_K8S_VERSION#1.}"

export GOWORK=off GOFLAGS="-mod=mod" CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
command -v go >/dev/null 2>&1 || die "go is not on PATH"

mkdir -p "${KUBE_BIN}" "${KUBE_IMAGES}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sutra-kube-build.XXXXXX")"
if ${check_cold}; then
	trap 'rm -rf "${WORK}" "${SUTRA_CACHE}"' EXIT
else
	trap 'rm -rf "${WORK}"' EXIT
fi

have() { [[ -x "${KUBE_BIN}/$1" ]]; }
install_bin() { install -m 0755 "$1" "${KUBE_BIN}/$2.tmp" && mv -f "${KUBE_BIN}/$2.tmp" "${KUBE_BIN}/$2"; }

# etcd_is_pinned FILE: FILE is an etcd binary of SUTRA_ETCD_VERSION.
etcd_is_pinned() {
	[[ -x "$1" ]] && "$1" --version 2>/dev/null | grep -qx "etcd Version: ${SUTRA_ETCD_VERSION#v}"
}

build_etcd() {
	if etcd_is_pinned "${KUBE_BIN}/etcd"; then
		log "etcd ${SUTRA_ETCD_VERSION} is cached"
		return 0
	fi
	if etcd_is_pinned "${ENVTEST_STORE}/etcd"; then
		log "etcd ${SUTRA_ETCD_VERSION} taken from the setup-envtest store"
		install_bin "${ENVTEST_STORE}/etcd" etcd
		return 0
	fi
	local dir="${WORK}/etcd" t0=$SECONDS
	mkdir -p "${dir}" && cd "${dir}"
	cat >go.mod <<EOM
module sutra.local/kube-etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 ${SUTRA_ETCD_VERSION}
EOM
	cat >main.go <<'EOM'
// Command etcd runs the etcd server built from the Go module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOM
	log "building etcd ${SUTRA_ETCD_VERSION}"
	# The binary goes next to the wrapper module, not into it: ${dir} is a
	# directory, and `go build -o DIR` would write DIR/<module name> instead.
	go mod tidy >&2 && go build -trimpath -ldflags "-s -w" -o "${WORK}/etcd.bin" . >&2 || die "building etcd failed"
	etcd_is_pinned "${WORK}/etcd.bin" || die "the etcd just built does not report version ${SUTRA_ETCD_VERSION}"
	install_bin "${WORK}/etcd.bin" etcd
	log "built etcd ${SUTRA_ETCD_VERSION} in $((SECONDS - t0))s"
}

build_kubernetes() {
	local todo=() c
	for c in "${K8S_COMPONENTS[@]}"; do
		have "$c" && continue
		if [[ "$c" =~ ^(kube-apiserver|kubectl)$ && -x "${ENVTEST_STORE}/$c" ]]; then
			install_bin "${ENVTEST_STORE}/$c" "$c"
			continue
		fi
		todo+=("$c")
	done
	[[ ${#todo[@]} -eq 0 ]] && return 0
	local dir="${WORK}/k8s"
	mkdir -p "${dir}" && cd "${dir}"
	log "downloading k8s.io/kubernetes@v${SUTRA_K8S_VERSION}"
	go mod init sutra.local/envtest-k8s >/dev/null 2>&1
	local info src
	info="$(go mod download -json "k8s.io/kubernetes@v${SUTRA_K8S_VERSION}")" || die "go mod download k8s.io/kubernetes failed"
	src="$(printf '%s\n' "${info}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
	[[ -d "${src}" ]] || die "module directory for k8s.io/kubernetes not found"
	local staging gover m
	staging="$(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/src/.*#\1#p' "${src}/go.mod" | sort -u)"
	[[ -n "${staging}" ]] || die "no staging replace directives in ${src}/go.mod"
	gover="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "${src}/go.mod" | head -1)"
	{
		# Same module path as hack/envtest.sh's wrapper, so both resolve the
		# same versions and share the Go build cache.
		printf 'module sutra.local/envtest-k8s\n\ngo %s\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "${gover:-1.26.0}" "${SUTRA_K8S_VERSION}"
		for m in ${staging}; do printf '\t%s => %s %s\n' "$m" "$m" "${STAGING_VERSION}"; done
		printf ')\n'
	} >go.mod
	for c in "${todo[@]}"; do
		mkdir -p "cmd/$c"
		cp "${src}/cmd/$c/"*.go "cmd/$c/"
		rm -f "cmd/$c/"*_test.go
		chmod u+w "cmd/$c/"*.go
	done
	log "resolving dependencies of ${todo[*]}"
	go mod tidy >&2 || die "go mod tidy for the kubernetes wrapper failed"
	local ld="-s -w" p
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X ${p}.gitVersion=v${SUTRA_K8S_VERSION} -X ${p}.gitMajor=${SUTRA_K8S_VERSION%%.*}"
		ld+=" -X ${p}.gitMinor=$(echo "${SUTRA_K8S_VERSION}" | cut -d. -f2) -X ${p}.gitTreeState=clean"
		ld+=" -X ${p}.buildDate=1970-01-01T00:00:00Z"
	done
	for c in "${todo[@]}"; do
		if [[ -x "${ENVTEST_STORE}/$c" ]]; then
			install_bin "${ENVTEST_STORE}/$c" "$c"
			continue
		fi
		log "building $c v${SUTRA_K8S_VERSION}"
		local t0=$SECONDS
		go build -trimpath -ldflags "${ld}" -o "${WORK}/$c" "./cmd/$c" >&2 || die "building $c failed"
		install_bin "${WORK}/$c" "$c"
		log "built $c in $((SECONDS - t0))s"
	done
}

# go_install NAME PKG@VERSION: a tool with no replace directives.
go_install() {
	have "$1" && return 0
	log "building $2"
	mkdir -p "${WORK}/gobin"
	(cd "${WORK}" && GOBIN="${WORK}/gobin" go install -trimpath -ldflags "-s -w" "$2") >&2 || die "go install $2 failed"
	install_bin "${WORK}/gobin/$1" "$1"
}

# Small programs of our own under hack/kube/tools (a separate module, so the
# project's go.mod does not grow go-containerregistry).
build_tools() {
	local t
	for t in imagebuild hostpath-provisioner pause; do
		have "$t" && [[ "${KUBE_BIN}/$t" -nt "${HACK_KUBE}/tools/cmd/$t/main.go" ]] && continue
		log "building $t"
		(cd "${HACK_KUBE}/tools" && go build -trimpath -ldflags "-s -w" -o "${WORK}/$t" "./cmd/$t") >&2 || die "building $t failed"
		install_bin "${WORK}/$t" "$t"
	done
}

build_images() {
	if [[ ! -s "${KUBE_IMAGES}/pause.tar" || "${KUBE_BIN}/pause" -nt "${KUBE_IMAGES}/pause.tar" ]]; then
		"${KUBE_BIN}/imagebuild" -o "${KUBE_IMAGES}/pause.tar" -t registry.k8s.io/pause:3.10-sutra \
			-entrypoint /pause -user 65535:65535 "${KUBE_BIN}/pause:/pause" >&2 || die "building the pause image failed"
	fi
	if [[ ! -s "${KUBE_IMAGES}/coredns.tar" ]]; then
		"${KUBE_BIN}/imagebuild" -o "${KUBE_IMAGES}/coredns.tar" -t "registry.k8s.io/coredns/coredns:${SUTRA_COREDNS_VERSION}-sutra" \
			-entrypoint /coredns "${KUBE_BIN}/coredns:/coredns" >&2 || die "building the coredns image failed"
	fi
}

# Steps may be named on the command line (default: all, in this order).
steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(tools etcd coredns crictl images kubernetes)
start=$SECONDS
for s in "${steps[@]}"; do
	# One lock per step: concurrent runs wait for each other and then reuse.
	exec 9>"${KUBE_CACHE}/.build-$s.lock"
	flock 9
	case "$s" in
	tools) build_tools ;;
	etcd) build_etcd ;;
	coredns) go_install coredns "github.com/coredns/coredns@${SUTRA_COREDNS_VERSION}" ;;
	crictl) go_install crictl "sigs.k8s.io/cri-tools/cmd/crictl@${SUTRA_CRICTL_VERSION}" ;;
	images) build_images ;;
	kubernetes) build_kubernetes ;;
	*) die "unknown step $s" ;;
	esac
done
if ${check_cold}; then
	for s in "${steps[@]}"; do
		case "$s" in
		etcd) "${KUBE_BIN}/etcd" --version >&2 || die "cold-built etcd does not run" ;;
		tools) for t in imagebuild hostpath-provisioner pause; do [[ -x "${KUBE_BIN}/$t" ]] || die "cold build left no $t"; done ;;
		*) [[ -n "$(ls -A "${KUBE_BIN}")" ]] || die "step $s left nothing in ${KUBE_BIN}" ;;
		esac
	done
	log "cold build of ${steps[*]} into an empty cache succeeded in $((SECONDS - start))s: $(find "${KUBE_BIN}" -maxdepth 1 -type f -printf '%f\n' | sort | tr '\n' ' ')"
	exit 0
fi
log "cache ready in $((SECONDS - start))s: ${KUBE_CACHE}"
printf '%s\n' "${KUBE_CACHE}"
