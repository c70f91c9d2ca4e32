#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/kube/offline-down.sh undoes hack/kube/offline-up.sh: kubelet first (so
# nothing restarts pods), then every pod sandbox through the CRI (so CNI
# releases addresses and port mappings), then the other processes, kube-proxy's
# iptables rules, mounts, the bridge and the state directories. The caches
# in ${KUBE_CACHE} and the logs in ${CLUSTER_DIR}/logs stay.
set -uo pipefail
HACK_KUBE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCRIPT_NAME=cluster-down.sh
# shellcheck source=hack/kube/lib.sh
source "${HACK_KUBE}/lib.sh"
[[ $(id -u) -eq 0 ]] || die "run as root"
PIDS="${CLUSTER_DIR}/pids"
t_start=$SECONDS

stop() { # stop NAME: SIGTERM the recorded process, SIGKILL after 15s
	local f="${PIDS}/$1.pid" pid i
	[[ -f "$f" ]] || return 0
	pid="$(cat "$f")"
	if kill -0 "${pid}" 2>/dev/null; then
		log "stopping $1 (pid ${pid})"
		kill -TERM "${pid}" 2>/dev/null
		for ((i = 0; i < 30; i++)); do
			kill -0 "${pid}" 2>/dev/null || break
			sleep 0.5
		done
		kill -0 "${pid}" 2>/dev/null && kill -KILL "${pid}" 2>/dev/null
	fi
	rm -f "$f"
}

stop kubelet
if [[ -S "${CONTAINERD_SOCK}" && -x "${KUBE_BIN}/crictl" ]]; then
	crictl=("${KUBE_BIN}/crictl" --runtime-endpoint "unix://${CONTAINERD_SOCK}" --timeout 30s)
	log "removing pods"
	"${crictl[@]}" stopp $("${crictl[@]}" pods -q 2>/dev/null) >/dev/null 2>&1
	"${crictl[@]}" rmp -fa >/dev/null 2>&1
	# Any containers left outside the CRI (none expected).
	for c in $(ctr -a "${CONTAINERD_SOCK}" -n k8s.io containers ls -q 2>/dev/null); do
		ctr -a "${CONTAINERD_SOCK}" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1
		ctr -a "${CONTAINERD_SOCK}" -n k8s.io tasks rm -f "$c" >/dev/null 2>&1
		ctr -a "${CONTAINERD_SOCK}" -n k8s.io containers rm "$c" >/dev/null 2>&1
	done
fi
for p in hostpath-provisioner kube-proxy kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do
	stop "$p"
done
# containerd-shim processes of our containerd outlive it when tasks were left.
for pid in $(pgrep -f "containerd-shim.*-address ${CONTAINERD_SOCK}" 2>/dev/null); do
	kill -KILL "${pid}" 2>/dev/null
done

# kube-proxy's chains and rules; CNI's masquerade chains; our FORWARD rules.
[[ -x "${KUBE_BIN}/kube-proxy" ]] && "${KUBE_BIN}/kube-proxy" --cleanup >/dev/null 2>&1
for rule in "-i ${CNI_BRIDGE} -j ACCEPT" "-o ${CNI_BRIDGE} -j ACCEPT"; do
	# shellcheck disable=SC2086
	while iptables -D FORWARD ${rule} -m comment --comment sutra-e2e 2>/dev/null; do :; done
done
# Partition rules the e2e suite may have left behind after a crash.
iptables -S FORWARD 2>/dev/null | grep -- '--comment sutra-e2e-partition' | sed 's/^-A /-D /' |
	while read -r r; do eval "iptables $r" 2>/dev/null; done
iptables -t nat -S POSTROUTING 2>/dev/null | grep -- 'CNI-' | grep -- 'name: "sutra-e2e"' | sed 's/^-A /-D /' |
	while read -r r; do eval "iptables -t nat $r" 2>/dev/null; done
for ch in $(iptables -t nat -S 2>/dev/null | awk '/^-N CNI-/{print $2}'); do
	if iptables -t nat -S "${ch}" 2>/dev/null | grep -q 'name: "sutra-e2e"'; then
		iptables -t nat -F "${ch}" 2>/dev/null
		iptables -t nat -X "${ch}" 2>/dev/null
	fi
done

# The kubelet's own chains (kube-proxy --cleanup leaves them), unless another
# kubelet runs on this machine.
if ! pgrep -x kubelet >/dev/null 2>&1; then
	for t in filter nat mangle; do
		for ch in OUTPUT INPUT; do
			while iptables -t "$t" -D "${ch}" -j KUBE-FIREWALL 2>/dev/null; do :; done
		done
		for ch in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
			iptables -t "$t" -F "${ch}" 2>/dev/null && iptables -t "$t" -X "${ch}" 2>/dev/null
		done
	done
fi

# Mounts under our state directories, deepest first.
awk '{print $2}' /proc/mounts | grep -E "^(/var/lib/sutra-kube|/run/sutra-kube)(/|$)" | sort -r |
	while read -r m; do umount -l "$m" 2>/dev/null; done
ip link del "${CNI_BRIDGE}" 2>/dev/null
rm -rf /var/lib/sutra-kube /run/sutra-kube /etc/sutra-kube
rm -rf "${CLUSTER_DIR}/etcd" "${CLUSTER_DIR}/pki" "${CLUSTER_DIR}/conf" "${PIDS}" \
	"${CLUSTER_KUBECONFIG}" "${CLUSTER_DIR}/provider" "${CLUSTER_DIR}/kubeconfig-path" "${CLUSTER_DIR}/node-ip"
log "offline cluster removed in $((SECONDS - t_start))s (caches kept in ${KUBE_CACHE}, logs in ${CLUSTER_DIR}/logs)"
