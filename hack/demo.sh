#!/usr/bin/env bash
# Runs a local Sutra cluster: one leader and two replicas as processes on
# 127.0.0.1, writes sample data, shows the live replication table, and stops
# everything cleanly. Needs only Go.
#
#   hack/demo.sh                  ports 50051-50053 (gRPC), 9191-9193 (metrics)
#   SUTRA_DEMO_PORT=60051 hack/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

base="${SUTRA_DEMO_PORT:-50051}"
leader="127.0.0.1:${base}"
r1="127.0.0.1:$((base + 1))"
r2="127.0.0.1:$((base + 2))"
bin="$(pwd)/bin"
data="$(mktemp -d -t sutra-demo-XXXXXX)"
pids=()

cleanup() {
	if ((${#pids[@]})); then
		echo "==> stopping nodes (SIGTERM)"
		kill -TERM "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
	rm -rf "${data}"
}
trap cleanup EXIT

echo "==> building storage-server and sutractl"
CGO_ENABLED=0 go build -o "${bin}/" ./cmd/storage-server ./cmd/sutractl

start() { # name role args...
	local name=$1
	shift
	"${bin}/storage-server" --node-id "${name}" --data-dir "${data}/${name}" --cluster-id demo "$@" \
		>"${data}/${name}.log" 2>&1 &
	pids+=($!)
}

echo "==> starting leader on ${leader} and replicas on ${r1}, ${r2} (data in ${data})"
start leader --role leader --listen "${leader}" --metrics-addr "127.0.0.1:$((base - 50051 + 9191))" --replicas "${r1},${r2}"
start replica-1 --role replica --leader "${leader}" --listen "${r1}" --metrics-addr "127.0.0.1:$((base - 50051 + 9192))"
start replica-2 --role replica --leader "${leader}" --listen "${r2}" --metrics-addr "127.0.0.1:$((base - 50051 + 9193))"

for _ in $(seq 100); do
	if "${bin}/sutractl" stats --addr "${leader},${r1},${r2}" >/dev/null 2>&1; then break; fi
	sleep 0.1
done
"${bin}/sutractl" stats --addr "${leader},${r1},${r2}" >/dev/null || {
	echo "nodes did not start; logs:" >&2
	tail -n 5 "${data}"/*.log >&2
	exit 1
}

# Replicas started before the leader listened may still be in their
# reconnect backoff; write once both stream.
for _ in $(seq 100); do
	[[ "$("${bin}/sutractl" status --addr "${leader}" 2>/dev/null | grep -c ' streaming ')" -ge 2 ]] && break
	sleep 0.1
done

echo "==> writing sample concepts"
for c in "sutra:thread of thought" "dharma:the way things are" "karma:cause and effect"; do
	"${bin}/sutractl" put --addr "${leader}" --id "${c%%:*}" --content "${c#*:}"
done
echo "==> reading 'karma' back from ${r2} (replication is asynchronous: retried until it arrives)"
for _ in $(seq 50); do
	"${bin}/sutractl" get --addr "${r2}" --id karma 2>/dev/null && break
	sleep 0.1
done
"${bin}/sutractl" get --addr "${r2}" --id karma >/dev/null

echo "==> writing 2,000 concepts/s for 5 s while measuring replica visibility lag"
"${bin}/sutractl" bench --leader "${leader}" --replicas "${r1},${r2}" --rate 2000 --duration 5s --connections 16 &
bench=$!
for _ in 1 2 3; do
	sleep 1.5
	echo
	echo "--- replication table (sutractl status --addr ${leader}) ---"
	"${bin}/sutractl" status --addr "${leader}"
done
wait "${bench}"

echo
echo "==> final state of every node"
"${bin}/sutractl" stats --addr "${leader},${r1},${r2}"
echo
"${bin}/sutractl" status --addr "${leader}"
