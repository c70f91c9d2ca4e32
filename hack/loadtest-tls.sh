#!/usr/bin/env bash
# TLS against plaintext in one run: hack/loadtest.sh alternately without and
# with mutual TLS (ROUNDS times each, so drift on a shared machine hits both),
# then one table of writes/s and replica visibility lag with the ratio.
#
#   hack/loadtest-tls.sh                         # 3 replicas, flat out, 64 writers, 15 s, 2 rounds
#   RATE=10000 CONNECTIONS=256 hack/loadtest-tls.sh  # the seed's open-loop shape
#
# RATE, CONNECTIONS, DURATION, REPLICAS and NODE_ARGS are passed on.
set -euo pipefail
cd "$(dirname "$0")/.."

export RATE="${RATE:-0}" CONNECTIONS="${CONNECTIONS:-64}" DURATION="${DURATION:-15s}"
rounds="${ROUNDS:-2}"
out="$(mktemp -d -t sutra-tls-XXXXXX)"
trap 'rm -rf "${out}"' EXIT

for r in $(seq 1 "${rounds}"); do
	for tls in 0 1; do
		echo "== round ${r}, $([[ ${tls} == 1 ]] && echo "mutual TLS" || echo plaintext)"
		TLS="${tls}" hack/loadtest.sh >"${out}/${tls}-${r}.log" 2>&1 || { cat "${out}/${tls}-${r}.log"; exit 1; }
		grep -E '^writes:|^write latency' "${out}/${tls}-${r}.log"
	done
done

# summarize TLS: mean writes/s, write p99, and the replicas' mean visibility p50/p99 over the rounds.
summarize() {
	cat "${out}/$1"-*.log | awk '
		/^writes:/ { match($0, /\(([0-9.]+) concepts\/s/); split(substr($0, RSTART + 1), a, " "); w += a[1]; n++ }
		/^write latency/ { lp99 += $7 }
		/^127\.0\.0\.1:/ && $2 + 0 > 0 { p50 += $2; p99 += $3; m++ }
		END { printf "%.0f %.2f %.2f %.2f\n", w / n, lp99 / n, p50 / m, p99 / m }'
}
read -r pw pl p50 p99 <<<"$(summarize 0)"
read -r tw tl t50 t99 <<<"$(summarize 1)"
echo
echo "TLS against plaintext: ${REPLICAS:-3} replicas, rate ${RATE}/s (0 = flat out), ${CONNECTIONS} writers, ${DURATION} x ${rounds} rounds each"
printf '%-22s %12s %12s %8s\n' "" plaintext "mutual TLS" "TLS/plain"
awk -v pw="${pw}" -v tw="${tw}" -v pl="${pl}" -v tl="${tl}" -v p50="${p50}" -v t50="${t50}" -v p99="${p99}" -v t99="${t99}" 'BEGIN {
	printf "%-22s %12.0f %12.0f %8.2f\n", "writes/s", pw, tw, tw / pw
	printf "%-22s %12.2f %12.2f %8.2f\n", "write p99 ms", pl, tl, tl / pl
	printf "%-22s %12.2f %12.2f %8.2f\n", "visibility p50 ms", p50, t50, t50 / p50
	printf "%-22s %12.2f %12.2f %8.2f\n", "visibility p99 ms", p99, t99, t99 / p99
}'
