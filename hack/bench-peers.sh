#!/usr/bin/env bash
# Sutra beside durable Redis on this machine: installs Debian's redis-server
# when it is missing, builds the storage node, and runs hack/bench-peers
# (Redis with appendfsync always, then Sutra asynchronous by unary gRPC calls
# and through the Go client, then the client with --sync-replicas 1, and once
# more with Go's default GOMAXPROCS on every node; three replicas each on
# 127.0.0.1). It prints one table with the ratios; it does not judge them.
#
#   hack/bench-peers.sh                 # the full run, about 10 minutes
#   SHORT=1 hack/bench-peers.sh         # every shape for 1-3 s (a smoke run)
#   BENCH_PEERS_ARGS="--sync=false" hack/bench-peers.sh
#   BENCH_PEERS_ARGS="--leader-procs=1" hack/bench-peers.sh   # the leader on one P too
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "bench-peers: $*" >&2; }
die() { log "$*"; exit 1; }

if ! command -v redis-server >/dev/null 2>&1; then
	command -v apt-get >/dev/null 2>&1 || die "redis-server is missing and apt-get is unavailable; install Redis 6 or 7"
	sudo=()
	((EUID == 0)) || sudo=(sudo)
	log "installing redis-server from Debian (apt-get)"
	"${sudo[@]}" apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends redis-server >/dev/null
fi
log "$(redis-server --version)"
CGO_ENABLED=0 go build -o bin/ ./cmd/storage-server
args=(--bin bin)
[[ -n "${SHORT:-}" ]] && args+=(--short)
# shellcheck disable=SC2086 # BENCH_PEERS_ARGS is a list of flags
exec go run ./hack/bench-peers "${args[@]}" ${BENCH_PEERS_ARGS:-}
