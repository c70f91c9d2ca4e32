#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/cluster-up.sh gives the e2e suite a single-node Kubernetes cluster and
# prints the path of its kubeconfig on stdout (progress goes to stderr):
#
#   export KUBECONFIG="$(hack/cluster-up.sh)"
#
# It picks the first of these that works:
#   1. external  KUBECONFIG is set and its API server answers: use it as is.
#   2. kind      kind and a Docker daemon are available and the upstream node
#                image (kindest/node:v<k8s version>) is present or can be pulled.
#   3. offline   host processes on this machine, built from the Go module proxy
#                and Debian packages (hack/kube/build.sh): etcd, kube-apiserver,
#                kube-controller-manager, kube-scheduler, kubelet and kube-proxy
#                next to a private containerd, a bridge CNI, CoreDNS and a
#                hostPath volume provisioner. Needs root.
# SUTRA_CLUSTER_PROVIDER=external|kind|offline forces one.
#
# The kubeconfig is written to ~/.cache/sutra/cluster/kubeconfig (kind and
# offline) and the provider to ~/.cache/sutra/cluster/provider, which
# hack/images.sh and hack/cluster-down.sh read. Running it again while the
# cluster is up is a no-op. hack/cluster-down.sh undoes it.
set -euo pipefail
HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCRIPT_NAME=cluster-up.sh
# shellcheck source=hack/kube/lib.sh
source "${HACK}/kube/lib.sh"

mkdir -p "${CLUSTER_DIR}"

reachable() { # reachable KUBECONFIG
	local k=$1 kubectl
	kubectl="$(command -v kubectl || echo "${KUBE_BIN}/kubectl")"
	[[ -x "${kubectl}" ]] || return 1
	timeout 15 "${kubectl}" --kubeconfig "$k" --request-timeout=10s get --raw /readyz >/dev/null 2>&1
}

finish() { # finish PROVIDER KUBECONFIG
	printf '%s\n' "$1" >"${CLUSTER_DIR}/provider"
	printf '%s\n' "$2" >"${CLUSTER_DIR}/kubeconfig-path"
	log "cluster ready (provider $1); kubeconfig: $2"
	printf '%s\n' "$2"
	exit 0
}

# ---- 1. external ------------------------------------------------------------
provider="${SUTRA_CLUSTER_PROVIDER:-}"
if [[ -z "${provider}" || "${provider}" == external ]]; then
	if [[ -n "${KUBECONFIG:-}" && "${KUBECONFIG}" != "${CLUSTER_KUBECONFIG}" ]] && reachable "${KUBECONFIG}"; then
		finish external "${KUBECONFIG}"
	fi
	[[ "${provider}" == external ]] && die "KUBECONFIG is unset or its API server does not answer"
fi

# ---- 2. kind -------------------------------------------------------------------
KIND_NODE_IMAGE="kindest/node:v${SUTRA_K8S_VERSION}"
KIND_CLUSTER="${SUTRA_KIND_CLUSTER:-sutra-e2e}"
kind_usable() {
	command -v docker >/dev/null 2>&1 || return 1
	timeout 10 docker info >/dev/null 2>&1 || return 1
	docker image inspect "${KIND_NODE_IMAGE}" >/dev/null 2>&1 ||
		timeout 120 docker pull "${KIND_NODE_IMAGE}" >&2 || return 1
}
kind_bin() {
	if command -v kind >/dev/null 2>&1; then command -v kind; return; fi
	if [[ ! -x "${SUTRA_CACHE}/kind-${SUTRA_KIND_VERSION}/kind" ]]; then
		log "installing sigs.k8s.io/kind@${SUTRA_KIND_VERSION}"
		(cd /tmp && GOBIN="${SUTRA_CACHE}/kind-${SUTRA_KIND_VERSION}" GOWORK=off GOFLAGS=-mod=mod \
			go install "sigs.k8s.io/kind@${SUTRA_KIND_VERSION}") >&2 || return 1
	fi
	printf '%s\n' "${SUTRA_CACHE}/kind-${SUTRA_KIND_VERSION}/kind"
}
if [[ "${provider}" == kind || (-z "${provider}" && -n "$(command -v docker)") ]]; then
	if [[ -f "${CLUSTER_DIR}/provider" && "$(cat "${CLUSTER_DIR}/provider")" == kind ]] && reachable "${CLUSTER_KUBECONFIG}"; then
		finish kind "${CLUSTER_KUBECONFIG}"
	fi
	if kind_usable && kind="$(kind_bin)"; then
		log "creating kind cluster ${KIND_CLUSTER} with ${KIND_NODE_IMAGE}"
		"${kind}" create cluster --name "${KIND_CLUSTER}" --image "${KIND_NODE_IMAGE}" \
			--kubeconfig "${CLUSTER_KUBECONFIG}" --wait 180s >&2
		finish kind "${CLUSTER_KUBECONFIG}"
	fi
	[[ "${provider}" == kind ]] && die "kind cannot be used here (no Docker daemon, or ${KIND_NODE_IMAGE} cannot be pulled)"
	log "kind is not usable here (no Docker daemon or no ${KIND_NODE_IMAGE}); building an offline cluster"
fi

# ---- 3. offline ----------------------------------------------------------------
exec "${HACK}/kube/offline-up.sh"
