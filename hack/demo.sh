#!/usr/bin/env bash
# Runs a local Sutra cluster: one leader and two replicas as processes on
# 127.0.0.1, over mutual TLS with certificates made by sutractl certs, writes
# sample data, shows the live replication table, and stops everything
# cleanly. Needs only Go.
#
#   hack/demo.sh                  ports 50051-50053 (gRPC), 9191-9193 (metrics)
#   SUTRA_DEMO_PORT=28051 hack/demo.sh   gRPC 28051-28053, metrics 28191-28193
#
# It refuses to start when a server listens on one of its ports (a cluster
# left running, another demo) instead of talking to whatever answers there,
# waits for a port a connection still holds (see below), and
# checks that the nodes answering are the ones it started: processes alive,
# node ids leader/replica-1/replica-2 and cluster id demo-<pid>.
set -euo pipefail
cd "$(dirname "$0")/.."

base="${SUTRA_DEMO_PORT:-50051}"
metrics_base=$((base == 50051 ? 9191 : base + 140))
cluster="demo-$$"
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

# A port another server listens on is refused. A port held only by a
# connection (an outgoing one given it as its local port, or one in
# TIME_WAIT, up to 60 s after it closed) would fail the node's bind just the
# same, so the demo waits for it to be released. The check runs after the
# build, just before the nodes start, to keep the window short.
ports=("${base}" $((base + 1)) $((base + 2)) "${metrics_base}" $((metrics_base + 1)) $((metrics_base + 2)))
# port_listening PORT: something accepts connections on 127.0.0.1:PORT.
port_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# port_held PORT: a socket of any state has PORT as its local port.
port_held() { command -v ss >/dev/null && [[ -n "$(ss -Htan "sport = :$1" 2>/dev/null)" ]]; }
for p in "${ports[@]}"; do
	if port_listening "$p"; then
		echo "demo: port 127.0.0.1:${p} is already in use (a cluster left running? stop it, or pick other ports with SUTRA_DEMO_PORT=...)" >&2
		exit 1
	fi
done
for p in "${ports[@]}"; do
	for ((waited = 0; waited <= 65; waited++)); do
		port_held "$p" || break
		((waited > 0)) || echo "==> waiting for a closed connection to release port ${p} (TIME_WAIT lasts up to 60 s)"
		((waited < 65)) || {
			echo "demo: port 127.0.0.1:${p} is still held by a connection after 65 s; pick other ports with SUTRA_DEMO_PORT=..." >&2
			ss -tan "sport = :${p}" >&2 || true
			exit 1
		}
		sleep 1
	done
done

echo "==> making a CA and certificates (sutractl certs)"
certs="${data}/certs"
"${bin}/sutractl" certs --dir "${certs}" --nodes leader,replica-1,replica-2 --clients admin:demo >/dev/null
# Every sutractl call below speaks mTLS as urn:sutra:admin:demo.
export SUTRA_CONTEXT="${certs}/admin-demo.yaml"

start() { # name role args...
	local name=$1
	shift
	"${bin}/storage-server" --node-id "${name}" --data-dir "${data}/${name}" --cluster-id "${cluster}" \
		--tls-cert "${certs}/${name}.crt" --tls-key "${certs}/${name}.key" --tls-ca "${certs}/ca.crt" "$@" \
		>"${data}/${name}.log" 2>&1 &
	pids+=($!)
}

echo "==> starting leader on ${leader} and replicas on ${r1}, ${r2} (data in ${data})"
start leader --role leader --listen "${leader}" --metrics-addr "127.0.0.1:${metrics_base}" --replicas "${r1},${r2}"
start replica-1 --role replica --leader "${leader}" --listen "${r1}" --metrics-addr "127.0.0.1:$((metrics_base + 1))"
start replica-2 --role replica --leader "${leader}" --listen "${r2}" --metrics-addr "127.0.0.1:$((metrics_base + 2))"

# Replicas started before the leader listened may still be in their
# reconnect backoff; write once both stream.
"${bin}/sutractl" wait --addr "${leader},${r1},${r2}" --for streaming --timeout 30s || {
	echo "demo: the nodes did not start; logs:" >&2
	tail -n 5 "${data}"/*.log >&2
	exit 1
}

# The nodes answering must be the ones started above, not others that took
# a port between the check and the start.
names=(leader replica-1 replica-2)
addrs=("${leader}" "${r1}" "${r2}")
for i in 0 1 2; do
	kill -0 "${pids[$i]}" 2>/dev/null || {
		echo "demo: ${names[$i]} (pid ${pids[$i]}) exited; its log:" >&2
		tail -n 5 "${data}/${names[$i]}.log" >&2
		exit 1
	}
	head=$("${bin}/sutractl" status --addr "${addrs[$i]}")
	head=${head%%$'\n'*} # the first line: node, role, cluster
	[[ "${head}" == "node ${names[$i]} ("*" cluster ${cluster} "* ]] || {
		echo "demo: ${addrs[$i]} is not the ${names[$i]} this demo started (cluster ${cluster}): ${head}" >&2
		exit 1
	}
done

echo "==> writing sample concepts"
for c in "sutra:thread of thought" "dharma:the way things are" "karma:cause and effect"; do
	"${bin}/sutractl" put --addr "${leader}" --id "${c%%:*}" --content "${c#*:}"
done
echo "==> reading 'karma' back from ${r2} (replication is asynchronous: get --wait retries until it arrives)"
"${bin}/sutractl" get --addr "${r2}" --id karma --wait 10s

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
