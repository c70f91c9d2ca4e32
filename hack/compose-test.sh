#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/compose-test.sh (make compose-test) runs deploy/docker-compose.yml for
# real and checks replication across a network partition:
#
#   1. installs Debian's docker.io and docker-compose if they are missing and
#      starts dockerd if it is not running (and stops it at the end only if
#      this script started it);
#   2. builds the static binaries and the storage-server image (Dockerfile,
#      prebuilt path: no image is pulled);
#   3. starts a leader and two replicas, writes through the leader with
#      bin/sutractl on the published 127.0.0.1 ports, and checks both replicas
#      hold the data with the leader's digest (sutractl stats);
#   4. disconnects replica-2 from the compose network, writes more, and checks
#      that the leader reports replica-2 unhealthy (sutractl status) while
#      replica-1 stays healthy and in step;
#   5. reconnects replica-2 and checks all three nodes converge to the same
#      applied sequence and digest;
#   6. always tears the cluster down (containers, network, volumes).
#
# Host ports default to 25051-25053 (gRPC) and 25191-25193 (metrics) so the
# test does not collide with hack/demo.sh, and sit below Linux's ephemeral
# port range (32768-60999), where a local connection or a test's random
# listener can hold one; override with
# SUTRA_COMPOSE_TEST_PORT=<base gRPC port>. Set KEEP_DOCKERD=1 to leave a
# dockerd this script started running.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

project=${SUTRA_COMPOSE_PROJECT:-sutra-compose-test}
base=${SUTRA_COMPOSE_TEST_PORT:-25051}
compose_file="${root}/deploy/docker-compose.yml"
export SUTRA_IMAGE=${SUTRA_IMAGE:-sutra-storage-server:dev}
export SUTRA_LEADER_PORT=${base} SUTRA_REPLICA1_PORT=$((base + 1)) SUTRA_REPLICA2_PORT=$((base + 2))
export SUTRA_LEADER_METRICS_PORT=$((base + 140)) SUTRA_REPLICA1_METRICS_PORT=$((base + 141)) SUTRA_REPLICA2_METRICS_PORT=$((base + 142))
leader=127.0.0.1:${SUTRA_LEADER_PORT}
r1=127.0.0.1:${SUTRA_REPLICA1_PORT}
r2=127.0.0.1:${SUTRA_REPLICA2_PORT}
sutractl="${root}/bin/sutractl"
workdir=$(mktemp -d -t sutra-compose-test-XXXXXX)
t0=$(date +%s)

log() { printf '==> [%3ds] %s\n' "$(($(date +%s) - t0))" "$*"; }
die() {
	printf 'compose-test: FAIL: %s\n' "$*" >&2
	exit 1
}

# ---- Docker ---------------------------------------------------------------

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi

install_docker() {
	local pkgs=()
	command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
	if ! command -v docker-compose >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
		pkgs+=(docker-compose)
	fi
	((${#pkgs[@]})) || return 0
	command -v apt-get >/dev/null 2>&1 || die "missing ${pkgs[*]} and apt-get is unavailable; install Docker and docker-compose"
	log "installing ${pkgs[*]} from Debian (apt-get)"
	"${sudo[@]}" apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null
}

started_dockerd=
forward_policy=
start_dockerd() {
	if docker info >/dev/null 2>&1; then
		log "using the running Docker engine"
		return
	fi
	# dockerd sets the iptables FORWARD policy to DROP when it turns on IP
	# forwarding, which cuts off other bridges on this host (for example a
	# CNI bridge). Remember the policy so stop_dockerd can restore it.
	forward_policy=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}') || true
	log "starting dockerd (log: ${workdir}/dockerd.log)"
	"${sudo[@]}" dockerd >"${workdir}/dockerd.log" 2>&1 &
	started_dockerd=$!
	for _ in $(seq 60); do
		docker info >/dev/null 2>&1 && return
		kill -0 "${started_dockerd}" 2>/dev/null || break
		sleep 0.5
	done
	tail -n 20 "${workdir}/dockerd.log" >&2
	die "dockerd did not start"
}

stop_dockerd() {
	[[ -n "${started_dockerd}" ]] || return 0
	if [[ -n "${KEEP_DOCKERD:-}" ]]; then
		log "leaving dockerd (pid ${started_dockerd}) running (KEEP_DOCKERD set)"
		return
	fi
	log "stopping the dockerd this script started (pid ${started_dockerd})"
	"${sudo[@]}" kill -TERM "${started_dockerd}" 2>/dev/null || true
	for _ in $(seq 40); do
		kill -0 "${started_dockerd}" 2>/dev/null || break
		sleep 0.5
	done
	if [[ -n "${forward_policy}" ]] && [[ $(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}') != "${forward_policy}" ]]; then
		log "restoring iptables FORWARD policy ${forward_policy}"
		"${sudo[@]}" iptables -P FORWARD "${forward_policy}" || true
	fi
}

compose() {
	if command -v docker-compose >/dev/null 2>&1; then
		docker-compose -p "${project}" -f "${compose_file}" "$@"
	else
		docker compose -p "${project}" -f "${compose_file}" "$@"
	fi
}

bridge_rule=()
cleanup() {
	local rc=$?
	set +e
	if [[ -n "${cluster_up:-}" ]]; then
		if ((rc != 0)); then
			echo "--- container logs (last 30 lines each) ---" >&2
			compose logs --no-color --tail 30 >&2
		fi
		log "tearing down the compose project ${project}"
		compose down -v --remove-orphans -t 5 >/dev/null 2>&1
	fi
	if ((${#bridge_rule[@]})); then
		"${sudo[@]}" iptables -D "${bridge_rule[@]}" 2>/dev/null
	fi
	stop_dockerd
	rm -rf "${workdir}"
	if ((rc == 0)); then
		log "PASS in $(($(date +%s) - t0)) s"
	else
		log "FAILED (exit ${rc}) after $(($(date +%s) - t0)) s"
	fi
	exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- checks ---------------------------------------------------------------

# stats_of ADDR: "applied digest" of one node.
stats_of() {
	"${sutractl}" stats --addr "$1" 2>/dev/null | awk 'NR == 2 {print $5, $6}'
}

# wait_converged TIMEOUT_S ADDR...: all nodes at the leader's applied
# sequence with the leader's digest.
wait_converged() {
	local timeout=$1
	shift
	local deadline=$(($(date +%s) + timeout)) want a got ok
	while :; do
		want=$(stats_of "$1")
		ok=1
		for a in "$@"; do
			got=$(stats_of "$a")
			[[ -n "${want}" && "${got}" == "${want}" ]] || ok=
		done
		[[ -n "${ok}" ]] && return 0
		(($(date +%s) < deadline)) || return 1
		sleep 0.5
	done
}

# replica_healthy NAME: the HEALTHY column of NAME in the leader's table.
replica_healthy() {
	"${sutractl}" status --addr "${leader}" 2>/dev/null | awk -v n="$1" '$1 == n {print $3}'
}

wait_healthy() { # NAME WANT(true|false) TIMEOUT_S
	local deadline=$(($(date +%s) + $3))
	while [[ $(replica_healthy "$1") != "$2" ]]; do
		(($(date +%s) < deadline)) || return 1
		sleep 0.5
	done
}

put_many() { # PREFIX COUNT
	local i
	for i in $(seq "$2"); do
		"${sutractl}" put --addr "${leader}" --id "$1-${i}" --content "$1 concept ${i}" >/dev/null
	done
}

# ---- run ------------------------------------------------------------------

install_docker
start_dockerd

log "building static binaries into bin/"
CGO_ENABLED=0 go build -o bin/ ./cmd/storage-server ./cmd/sutractl

log "building the ${SUTRA_IMAGE} image (Dockerfile target storage-server)"
compose build -q >"${workdir}/build.log" 2>&1 || {
	cat "${workdir}/build.log" >&2
	die "image build failed"
}

log "starting leader, replica-1, replica-2 (gRPC on ${leader}, ${r1}, ${r2})"
compose down -v --remove-orphans -t 1 >/dev/null 2>&1 || true
cluster_up=1
compose up -d --no-build >"${workdir}/up.log" 2>&1 || {
	cat "${workdir}/up.log" >&2
	die "docker-compose up failed"
}
network="${project}_sutra"

# With the FORWARD policy at DROP and no ACCEPT rule for the compose bridge
# (dockerd started with --iptables=false, or rules flushed), containers on
# the bridge cannot talk to each other. Allow the bridge only in that case.
if [[ $(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}') == DROP ]]; then
	br="br-$(docker network inspect -f '{{.Id}}' "${network}" | cut -c1-12)"
	if ! iptables -S 2>/dev/null | grep -q -- "-i ${br} -o ${br} -j ACCEPT"; then
		log "FORWARD policy is DROP with no rule for ${br}: allowing traffic within it"
		bridge_rule=(FORWARD -i "${br}" -o "${br}" -j ACCEPT)
		"${sudo[@]}" iptables -I "${bridge_rule[@]}"
	fi
fi

for _ in $(seq 120); do
	"${sutractl}" stats --addr "${leader},${r1},${r2}" >/dev/null 2>&1 && break
	sleep 0.5
done
"${sutractl}" stats --addr "${leader},${r1},${r2}" >/dev/null || die "nodes did not answer on ${leader},${r1},${r2}"

log "writing 50 concepts through the leader"
put_many before 50
"${sutractl}" get --addr "${r2}" --id before-50 >/dev/null 2>&1 || true
wait_converged 30 "${leader}" "${r1}" "${r2}" || {
	"${sutractl}" stats --addr "${leader},${r1},${r2}" >&2
	die "replicas did not reach the leader's digest after the first writes"
}
"${sutractl}" stats --addr "${leader},${r1},${r2}"
"${sutractl}" get --addr "${r2}" --id before-50 | grep -q 'content "before concept 50"' ||
	die "replica-2 does not return concept before-50"
wait_healthy replica-1 true 15 || die "leader does not report replica-1 healthy"
wait_healthy replica-2 true 15 || die "leader does not report replica-2 healthy"

log "partition: docker network disconnect ${network} replica-2"
r2_container=$(compose ps -q replica-2)
docker network disconnect "${network}" "${r2_container}"

log "writing 50 more concepts while replica-2 is cut off"
put_many during 50
wait_healthy replica-2 false 30 || {
	"${sutractl}" status --addr "${leader}" >&2
	die "leader still reports replica-2 healthy 30 s after the partition"
}
wait_converged 30 "${leader}" "${r1}" || die "replica-1 fell behind during the partition"
"${sutractl}" status --addr "${leader}"
[[ $(replica_healthy replica-1) == true ]] || die "replica-1 is not healthy during the partition"
log "leader reports replica-2 unhealthy; replica-1 healthy and in step"

log "healing: docker network connect ${network} replica-2"
docker network connect --alias replica-2 "${network}" "${r2_container}"
wait_converged 90 "${leader}" "${r1}" "${r2}" || {
	"${sutractl}" status --addr "${leader}" >&2
	"${sutractl}" stats --addr "${leader},${r1},${r2}" >&2 || true
	die "replica-2 did not converge after the partition healed"
}
wait_healthy replica-2 true 30 || die "leader does not report replica-2 healthy after healing"
"${sutractl}" stats --addr "${leader},${r1},${r2}"
"${sutractl}" status --addr "${leader}"
"${sutractl}" get --addr "${r2}" --id during-50 | grep -q 'content "during concept 50"' ||
	die "replica-2 does not return concept during-50 after healing"
log "all three nodes at the same applied sequence and digest"
