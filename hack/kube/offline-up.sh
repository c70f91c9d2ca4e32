#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/kube/offline-up.sh starts a single-node cluster from host processes
# (see hack/cluster-up.sh, which calls it). Everything it starts is recorded
# in ${CLUSTER_DIR}/pids/ and undone by hack/kube/offline-down.sh.
#
#   state          where
#   certificates   ${CLUSTER_DIR}/pki            (CA, apiserver, kubelet client, SA keys)
#   etcd data      ${CLUSTER_DIR}/etcd
#   logs           ${CLUSTER_DIR}/logs/<component>.log
#   containerd     /var/lib/sutra-kube/containerd, /run/sutra-kube/containerd (own socket)
#   kubelet        /var/lib/sutra-kube/kubelet
#   volumes        /var/lib/sutra-kube/volumes   (hostpath-provisioner)
#   CNI            bridge ${CNI_BRIDGE}, ${POD_CIDR%/*}/24, config in /etc/sutra-kube/cni
set -euo pipefail
HACK_KUBE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCRIPT_NAME=cluster-up.sh
# shellcheck source=hack/kube/lib.sh
source "${HACK_KUBE}/lib.sh"

[[ $(id -u) -eq 0 ]] || die "the offline cluster runs kubelet and containerd as host processes: run as root"
[[ "$(uname -s)" == Linux ]] || die "the offline cluster needs Linux"

PKI="${CLUSTER_DIR}/pki"
LOGS="${CLUSTER_DIR}/logs"
PIDS="${CLUSTER_DIR}/pids"
CONF="${CLUSTER_DIR}/conf"
KUBECTL="${KUBE_BIN}/kubectl"
ETCD_CLIENT_PORT="${SUTRA_ETCD_PORT:-23790}"
ETCD_PEER_PORT=$((ETCD_CLIENT_PORT + 10))
t_start=$SECONDS

running() { # running NAME: the recorded process is alive
	local f="${PIDS}/$1.pid"
	[[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}
start() { # start NAME CMD...: run CMD in its own session, log and record its pid
	local name=$1
	shift
	running "${name}" && return 0
	log "starting ${name}"
	setsid "$@" >"${LOGS}/${name}.log" 2>&1 </dev/null &
	echo $! >"${PIDS}/${name}.pid"
}
wait_for() { # wait_for WHAT SECONDS CMD...
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 1
	done
	die "${what} not ready after ${secs}s; see ${LOGS}/"
}
k() { "${KUBECTL}" --kubeconfig "${CLUSTER_KUBECONFIG}" "$@"; }

if [[ -f "${CLUSTER_DIR}/provider" && "$(cat "${CLUSTER_DIR}/provider")" == offline ]] &&
	running kube-apiserver && running kubelet && k get --raw /readyz >/dev/null 2>&1; then
	log "offline cluster already running"
	printf '%s\n' "${CLUSTER_KUBECONFIG}"
	exit 0
fi

apt_install containerd runc containernetworking-plugins iptables iproute2 conntrack openssl curl
"${HACK_KUBE}/build.sh" >/dev/null
mkdir -p "${PKI}" "${LOGS}" "${PIDS}" "${CONF}" "${KUBELET_ROOT}" "${PV_ROOT}" "${CNI_CONF_DIR}" \
	"${CONTAINERD_ROOT}" "${CONTAINERD_STATE}"
echo offline >"${CLUSTER_DIR}/provider"

# The node's address: the source address of the default route, else the
# first global IPv4 address.
NODE_IP="${SUTRA_NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -1)}"
[[ -n "${NODE_IP}" ]] || NODE_IP="$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)"
[[ -n "${NODE_IP}" ]] || die "no IPv4 address for the node; set SUTRA_NODE_IP"
echo "${NODE_IP}" >"${CLUSTER_DIR}/node-ip"

# ---- certificates ---------------------------------------------------------------
if [[ ! -s "${PKI}/admin.token" ]]; then
	log "creating certificates in ${PKI}"
	(
		cd "${PKI}"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=sutra-e2e-ca" 2>/dev/null
		cat >apiserver.ext <<EOM
subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:${NODE_NAME},IP:127.0.0.1,IP:${NODE_IP},IP:${KUBERNETES_SVC_IP}
extendedKeyUsage=serverAuth
EOM
		openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
		openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile apiserver.ext 2>/dev/null
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl req -newkey rsa:2048 -nodes -keyout kubelet-client.key -out kubelet-client.csr \
			-subj "/O=system:masters/CN=kube-apiserver-kubelet-client" 2>/dev/null
		openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out kubelet-client.crt -days 3650 -extfile client.ext 2>/dev/null
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		token="$(openssl rand -hex 24)"
		echo "${token},admin,admin,system:masters" >tokens.csv
		echo "${token}" >admin.token
		chmod 600 ./*.key tokens.csv admin.token
	)
fi
cat >"${CLUSTER_KUBECONFIG}" <<EOM
apiVersion: v1
kind: Config
clusters:
- name: sutra-e2e
  cluster:
    server: https://127.0.0.1:${APISERVER_PORT}
    certificate-authority-data: $(base64 -w0 <"${PKI}/ca.crt")
users:
- name: admin
  user:
    token: $(cat "${PKI}/admin.token")
contexts:
- name: sutra-e2e
  context: {cluster: sutra-e2e, user: admin}
current-context: sutra-e2e
EOM
chmod 600 "${CLUSTER_KUBECONFIG}"

# ---- containerd -------------------------------------------------------------------
cat >"${CONF}/containerd.toml" <<EOM
version = 2
root = "${CONTAINERD_ROOT}"
state = "${CONTAINERD_STATE}"
[grpc]
  address = "${CONTAINERD_SOCK}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10-sutra"
  # Nothing here may lower oom_score_adj (no CAP_SYS_RESOURCE); without this
  # every sandbox fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN_DIR}"
    conf_dir = "${CNI_CONF_DIR}"
EOM
cat >"${CNI_CONF_DIR}/10-sutra.conflist" <<EOM
{
  "cniVersion": "0.4.0",
  "name": "sutra-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${CNI_BRIDGE}",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "/var/lib/sutra-kube/cni",
        "ranges": [[{"subnet": "${POD_CIDR%.*.*}.0.0/24"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOM
start containerd containerd --config "${CONF}/containerd.toml"
wait_for containerd 30 ctr -a "${CONTAINERD_SOCK}" version
for img in "${KUBE_IMAGES}"/*.tar; do
	ctr -a "${CONTAINERD_SOCK}" -n k8s.io images import --no-unpack=false "${img}" >/dev/null ||
		die "importing ${img} failed"
done

# ---- network ----------------------------------------------------------------------
# Bridged pod traffic must pass iptables (kube-proxy's Service rules, and the
# e2e suite's partitions in FORWARD).
echo 1 >/proc/sys/net/ipv4/ip_forward
[[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] || modprobe br_netfilter 2>/dev/null || true
[[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] || die "br_netfilter is not available"
echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
# If dockerd ever ran here the FORWARD policy is DROP: allow the pod bridge.
for rule in "-i ${CNI_BRIDGE} -j ACCEPT" "-o ${CNI_BRIDGE} -j ACCEPT"; do
	# shellcheck disable=SC2086
	iptables -C FORWARD ${rule} -m comment --comment sutra-e2e 2>/dev/null ||
		iptables -A FORWARD ${rule} -m comment --comment sutra-e2e
done

# ---- etcd and the control plane -------------------------------------------------
start etcd "${KUBE_BIN}/etcd" --name sutra-e2e --data-dir "${CLUSTER_DIR}/etcd" \
	--listen-client-urls "http://127.0.0.1:${ETCD_CLIENT_PORT}" --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT_PORT}" \
	--listen-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" \
	--initial-cluster "sutra-e2e=http://127.0.0.1:${ETCD_PEER_PORT}" --listen-metrics-urls "" \
	--unsafe-no-fsync --quota-backend-bytes 2147483648
wait_for etcd 60 curl -fsS "http://127.0.0.1:${ETCD_CLIENT_PORT}/health"

start kube-apiserver "${KUBE_BIN}/kube-apiserver" \
	--etcd-servers "http://127.0.0.1:${ETCD_CLIENT_PORT}" \
	--bind-address 0.0.0.0 --secure-port "${APISERVER_PORT}" --advertise-address "${NODE_IP}" \
	--tls-cert-file "${PKI}/apiserver.crt" --tls-private-key-file "${PKI}/apiserver.key" \
	--client-ca-file "${PKI}/ca.crt" --token-auth-file "${PKI}/tokens.csv" \
	--kubelet-client-certificate "${PKI}/kubelet-client.crt" --kubelet-client-key "${PKI}/kubelet-client.key" \
	--kubelet-preferred-address-types InternalIP,Hostname \
	--service-account-issuer https://kubernetes.default.svc.cluster.local \
	--service-account-key-file "${PKI}/sa.pub" --service-account-signing-key-file "${PKI}/sa.key" \
	--service-cluster-ip-range "${SERVICE_CIDR}" --authorization-mode Node,RBAC \
	--allow-privileged=true --enable-priority-and-fairness=false --profiling=false
wait_for kube-apiserver 120 k get --raw /readyz

start kube-controller-manager "${KUBE_BIN}/kube-controller-manager" \
	--kubeconfig "${CLUSTER_KUBECONFIG}" --authentication-kubeconfig "${CLUSTER_KUBECONFIG}" \
	--authorization-kubeconfig "${CLUSTER_KUBECONFIG}" --bind-address 127.0.0.1 \
	--service-account-private-key-file "${PKI}/sa.key" --root-ca-file "${PKI}/ca.crt" \
	--use-service-account-credentials --service-cluster-ip-range "${SERVICE_CIDR}" \
	--cluster-signing-cert-file "${PKI}/ca.crt" --cluster-signing-key-file "${PKI}/ca.key" \
	--leader-elect=false --profiling=false
start kube-scheduler "${KUBE_BIN}/kube-scheduler" \
	--kubeconfig "${CLUSTER_KUBECONFIG}" --authentication-kubeconfig "${CLUSTER_KUBECONFIG}" \
	--authorization-kubeconfig "${CLUSTER_KUBECONFIG}" --bind-address 127.0.0.1 \
	--leader-elect=false --profiling=false

# ---- node ---------------------------------------------------------------------------
cat >"${CONF}/kubelet.yaml" <<EOM
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# v1.35+ refuses cgroup v1 hosts unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://${CONTAINERD_SOCK}
address: ${NODE_IP}
readOnlyPort: 0
clusterDomain: cluster.local
clusterDNS: [${DNS_SVC_IP}]
resolvConf: /etc/resolv.conf
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${PKI}/ca.crt}
authorization: {mode: Webhook}
failSwapOn: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
protectKernelDefaults: false
EOM
start kubelet "${KUBE_BIN}/kubelet" --config "${CONF}/kubelet.yaml" --kubeconfig "${CLUSTER_KUBECONFIG}" \
	--root-dir "${KUBELET_ROOT}" --cert-dir "${KUBELET_ROOT}/pki" \
	--node-ip "${NODE_IP}" --hostname-override "${NODE_NAME}"

cat >"${CONF}/kube-proxy.yaml" <<EOM
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: ${CLUSTER_KUBECONFIG}}
mode: iptables
clusterCIDR: ${POD_CIDR}
hostnameOverride: ${NODE_NAME}
bindAddress: 0.0.0.0
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack: {maxPerCore: 0}
EOM
start kube-proxy "${KUBE_BIN}/kube-proxy" --config "${CONF}/kube-proxy.yaml"

wait_for "node ${NODE_NAME}" 120 k wait --for=condition=Ready "node/${NODE_NAME}" --timeout=2s

# ---- add-ons: storage, DNS ------------------------------------------------------------
start hostpath-provisioner "${KUBE_BIN}/hostpath-provisioner" --kubeconfig "${CLUSTER_KUBECONFIG}" \
	--root "${PV_ROOT}" --node "${NODE_NAME}"
sed -e "s|@DNS_SVC_IP@|${DNS_SVC_IP}|g" -e "s|@COREDNS_IMAGE@|registry.k8s.io/coredns/coredns:${SUTRA_COREDNS_VERSION}-sutra|g" \
	"${HACK_KUBE}/addons.yaml" | k apply -f - >&2
k -n kube-system rollout status deployment/coredns --timeout=180s >&2 || die "CoreDNS did not become ready; see kubectl -n kube-system describe pods"

log "offline cluster up in $((SECONDS - t_start))s (node ${NODE_NAME} at ${NODE_IP})"
printf '%s\n' "${CLUSTER_KUBECONFIG}" >"${CLUSTER_DIR}/kubeconfig-path"
log "kubeconfig: ${CLUSTER_KUBECONFIG}"
printf '%s\n' "${CLUSTER_KUBECONFIG}"
