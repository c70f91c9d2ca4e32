#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/cluster-down.sh removes the cluster hack/cluster-up.sh made:
#   kind      deletes the kind cluster;
#   offline   stops every process it started, removes pods, containers,
#             mounts, the CNI bridge, iptables rules and cluster state
#             (hack/kube/offline-down.sh);
#   external  does nothing (the cluster is not ours).
# Binary and image caches (~/.cache/sutra/kube/) stay; the logs of the last
# offline run stay in ~/.cache/sutra/cluster/logs/. Safe to run twice.
set -euo pipefail
HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCRIPT_NAME=cluster-down.sh
# shellcheck source=hack/kube/lib.sh
source "${HACK}/kube/lib.sh"

provider="$(cat "${CLUSTER_DIR}/provider" 2>/dev/null || true)"
case "${provider}" in
kind)
	kind="$(command -v kind || echo "${SUTRA_CACHE}/kind-${SUTRA_KIND_VERSION}/kind")"
	"${kind}" delete cluster --name "${SUTRA_KIND_CLUSTER:-sutra-e2e}" >&2
	rm -f "${CLUSTER_KUBECONFIG}" "${CLUSTER_DIR}/provider" "${CLUSTER_DIR}/kubeconfig-path"
	;;
external)
	log "the cluster was not made by cluster-up.sh (external KUBECONFIG); leaving it alone"
	rm -f "${CLUSTER_DIR}/provider" "${CLUSTER_DIR}/kubeconfig-path"
	;;
*)
	# offline, or unknown: clean up whatever offline state exists.
	exec "${HACK}/kube/offline-down.sh"
	;;
esac
