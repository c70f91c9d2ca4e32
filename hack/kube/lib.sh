# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/kube/lib.sh: versions, paths and helpers shared by the cluster scripts.
# Sourced, not executed.

# Pinned versions. Each is served by the Go module proxy and builds with the
# toolchain in go.mod (GOTOOLCHAIN=local).
SUTRA_K8S_VERSION="${SUTRA_K8S_VERSION:-1.37.2}"
SUTRA_ETCD_VERSION="${SUTRA_ETCD_VERSION:-v3.6.16}"
SUTRA_COREDNS_VERSION="${SUTRA_COREDNS_VERSION:-v1.14.6}"
SUTRA_CRICTL_VERSION="${SUTRA_CRICTL_VERSION:-v1.37.0}"
SUTRA_KIND_VERSION="${SUTRA_KIND_VERSION:-v0.33.0}"

SUTRA_CACHE="${SUTRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sutra}"
# Binaries and images, keyed by version; cluster-down never removes them.
KUBE_CACHE="${SUTRA_CACHE}/kube/v${SUTRA_K8S_VERSION}"
KUBE_BIN="${KUBE_CACHE}/bin"
KUBE_IMAGES="${KUBE_CACHE}/images"
# Per-cluster state (certificates, etcd data, logs, pids); cluster-down removes it
# except the logs of the last run.
CLUSTER_DIR="${SUTRA_CLUSTER_DIR:-${SUTRA_CACHE}/cluster}"
CLUSTER_KUBECONFIG="${CLUSTER_DIR}/kubeconfig"
# The setup-envtest store that hack/envtest.sh fills: kube-apiserver, etcd and
# kubectl found there are reused instead of being built twice.
ENVTEST_STORE="${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest/k8s/${SUTRA_K8S_VERSION}-linux-amd64"

# Addresses of the offline cluster.
POD_CIDR="${SUTRA_POD_CIDR:-10.244.0.0/16}"
SERVICE_CIDR="${SUTRA_SERVICE_CIDR:-10.96.0.0/16}"
KUBERNETES_SVC_IP="10.96.0.1"
DNS_SVC_IP="10.96.0.10"
CNI_BRIDGE="${SUTRA_CNI_BRIDGE:-sutra0}"
APISERVER_PORT="${SUTRA_APISERVER_PORT:-6443}"
NODE_NAME="${SUTRA_NODE_NAME:-sutra-e2e}"
CONTAINERD_ROOT="${SUTRA_CONTAINERD_ROOT:-/var/lib/sutra-kube/containerd}"
CONTAINERD_STATE="/run/sutra-kube/containerd"
CONTAINERD_SOCK="${CONTAINERD_STATE}/containerd.sock"
KUBELET_ROOT="/var/lib/sutra-kube/kubelet"
PV_ROOT="/var/lib/sutra-kube/volumes"
CNI_CONF_DIR="/etc/sutra-kube/cni/net.d"
CNI_BIN_DIR="/usr/lib/cni"

log() { printf '%s: %s\n' "${SCRIPT_NAME:-$(basename "$0")}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# as_root CMD...: run CMD as root (directly or with sudo).
as_root() {
	if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG...: install Debian packages that are missing.
apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get; install them yourself"
	log "installing Debian packages: ${missing[*]}"
	as_root apt-get update -q >&2 || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
		die "apt-get install ${missing[*]} failed"
}
