#!/usr/bin/env bash
# Load test: one leader and N replicas as processes on 127.0.0.1, driven by
# `sutractl bench`. Prints write latency, replica visibility lag, the
# leader-reported lag, memory and whether every replica ends with the
# leader's digest. Exit status is non-zero when replicas do not converge.
#
#   hack/loadtest.sh                                   # the seed's test: 3 replicas, 10,000 writes/s for 60 s, 256 writers
#   RATE=0 CONNECTIONS=64 DURATION=20s hack/loadtest.sh          # flat out, unary writes
#   RATE=0 BATCH=500 CONNECTIONS=8 DURATION=20s hack/loadtest.sh # flat out through BatchWrite
#
# TLS=1 runs every node and sutractl bench over mutual TLS (certificates from
# sutractl certs); the default is plaintext (--insecure), the reference TLS is
# measured against. REPLICAS sets the number of replicas (0 for a lone leader), NODE_ARGS adds
# flags to every node (e.g. --unsafe-no-fsync, --memory-limit N), BENCH_ARGS
# to sutractl bench (e.g. --cpuprofile FILE), and SUTRA_PPROF=true serves Go
# profiles at /debug/pprof on each node's metrics address (PORT+40 for the
# leader, PORT+40+N for replica N).
set -euo pipefail
cd "$(dirname "$0")/.."

replicas="${REPLICAS:-3}"
rate="${RATE:-10000}"
duration="${DURATION:-60s}"
batch="${BATCH:-1}"
connections="${CONNECTIONS:-256}"
base="${PORT:-27051}" # below the ephemeral port range (32768-60999)
bin="$(pwd)/bin"
data="$(mktemp -d -t sutra-load-XXXXXX)"
pids=()
cleanup() {
	if ((${#pids[@]})); then kill -TERM "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; fi
	rm -rf "${data}"
}
trap cleanup EXIT

CGO_ENABLED=0 go build -o "${bin}/" ./cmd/storage-server ./cmd/sutractl
if [[ "${TLS:-0}" == 1 ]]; then
	"${bin}/sutractl" certs --dir "${data}/certs" --nodes "leader,$(seq -s, -f 'replica-%g' 1 "${replicas}")" --clients admin:load >/dev/null
	export SUTRA_CONTEXT="${data}/certs/admin-load.yaml"
fi
# node_security NAME: the TLS flags of node NAME, or --insecure.
node_security() {
	if [[ "${TLS:-0}" == 1 ]]; then
		echo "--tls-cert ${data}/certs/$1.crt --tls-key ${data}/certs/$1.key --tls-ca ${data}/certs/ca.crt"
	else
		echo "--insecure"
	fi
}
leader="127.0.0.1:${base}"
addrs=()
for i in $(seq 1 "${replicas}"); do addrs+=("127.0.0.1:$((base + i))"); done
list="$(IFS=,; echo "${addrs[*]}")"

metrics="127.0.0.1:$((base + 40))"
"${bin}/storage-server" --role leader --listen "${leader}" --node-id leader --data-dir "${data}/leader" \
	--metrics-addr "${metrics}" --replicas "${list}" --cluster-id load $(node_security leader) ${NODE_ARGS:-} 2>"${data}/leader.log" &
pids+=($!)
for i in $(seq 1 "${replicas}"); do
	"${bin}/storage-server" --role replica --leader "${leader}" --listen "${addrs[$((i - 1))]}" --node-id "replica-${i}" \
		--data-dir "${data}/replica-${i}" --metrics-addr "127.0.0.1:$((base + 40 + i))" --cluster-id load $(node_security "replica-${i}") ${NODE_ARGS:-} 2>"${data}/replica-${i}.log" &
	pids+=($!)
done
for _ in $(seq 100); do "${bin}/sutractl" stats --addr "${leader},${list}" >/dev/null 2>&1 && break; sleep 0.1; done
# Start measuring once every replica streams (a replica started before the
# leader listened may still be in its reconnect backoff).
for _ in $(seq 100); do
	[[ "$("${bin}/sutractl" status --addr "${leader}" 2>/dev/null | grep -c ' streaming ')" -ge "${replicas}" ]] && break
	sleep 0.1
done

echo "== sutractl bench ($([[ "${TLS:-0}" == 1 ]] && echo "mutual TLS" || echo plaintext)): ${replicas} replicas, rate ${rate}/s (0 = flat out), ${duration}, batch ${batch}, ${connections} writers"
# --leader takes any list of the cluster's nodes; bench writes to the one that leads.
"${bin}/sutractl" bench --leader "${leader},${list}" --replicas "${list}" --rate "${rate}" --duration "${duration}" \
	--batch "${batch}" --connections "${connections}" --settle 60s ${BENCH_ARGS:-}
echo
"${bin}/sutractl" status --addr "${leader}"
# The disk's share of write latency, from the leader's own histograms.
curl -fsS "http://${metrics}/metrics" 2>/dev/null | awk '
	/^sutra_wal_fsync_duration_seconds_sum/ {fs=$2} /^sutra_wal_fsync_duration_seconds_count/ {fc=$2}
	/^sutra_wal_group_commit_records_sum/ {gs=$2}
	END { if (fc > 0) printf "leader WAL: %d group commits, mean fsync %.0f us, mean %.1f records per commit\n", fc, fs/fc*1e6, gs/fc }' || true
# Replay lag per replica as the leader measured it on every ack (histogram
# bucket bounds, so p50/p99 are upper bounds).
curl -fsS "http://${metrics}/metrics" 2>/dev/null | awk '
	/^sutra_replication_replay_lag_seconds_bucket/ {
		match($0, /replica="[^"]*"/); r = substr($0, RSTART + 9, RLENGTH - 10)
		match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
		n[r]++; bound[r, n[r]] = le; count[r, n[r]] = $NF
	}
	/^sutra_replication_replay_lag_seconds_sum/ { match($0, /replica="[^"]*"/); sum[substr($0, RSTART + 9, RLENGTH - 10)] = $NF }
	END {
		for (r in n) {
			total = count[r, n[r]]; if (total == 0) continue
			p50 = p99 = ""
			for (i = 1; i <= n[r]; i++) {
				if (p50 == "" && count[r, i] >= 0.5 * total) p50 = bound[r, i]
				if (p99 == "" && count[r, i] >= 0.99 * total) p99 = bound[r, i]
			}
			printf "replay lag %s: %d acks, mean %.1f ms, p50 <= %s s, p99 <= %s s\n", r, total, sum[r] / total * 1000, p50, p99
		}
	}' | sort || true
# Warnings and errors the nodes logged during the run (reconnects, slow disks).
for f in "${data}"/*.log; do
	grep -E 'level=(WARN|ERROR)' "${f}" | head -5 | sed "s|^|$(basename "${f}" .log): |" || true
done
