#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/demo-test.sh: hack/demo.sh must refuse ports another process holds
# instead of using whatever answers there. Holds each of the demo's ports in
# turn (gRPC and metrics) with a plain listener and checks that the demo
# exits non-zero, names the port, and starts no node. Then holds one gRPC
# port with an outgoing connection (as an ephemeral port or one in TIME_WAIT
# would be held) for a few seconds and checks that the demo waits for its
# release and then runs to the end. About half a minute.
#
#   SUTRA_DEMO_TEST_PORT   base gRPC port of the run (default 27151; metrics +140)
set -euo pipefail
cd "$(dirname "$0")/.."

base=${SUTRA_DEMO_TEST_PORT:-27151}
fail() {
	printf 'demo-test: FAIL: %s\n' "$*" >&2
	exit 1
}

# hold_and_run PYTHON PORT: runs the Python program (its argument: PORT) in
# the background, and once it prints "ready", the demo on this test's ports;
# sets rc and out to the demo's exit status and output, then stops the
# program.
hold_and_run() {
	local ready="/tmp/demo-test-$$.ready" holder
	python3 -c "$1" "$2" >"${ready}" &
	holder=$!
	for _ in $(seq 50); do
		grep -q ready "${ready}" 2>/dev/null && break
		sleep 0.1
	done
	rc=0
	out=$(SUTRA_DEMO_PORT=${base} timeout 600 hack/demo.sh 2>&1) || rc=$?
	kill "${holder}" 2>/dev/null || true
	wait "${holder}" 2>/dev/null || true
	rm -f "${ready}"
}

# A server listening on one of the demo's ports.
listener='
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); print("ready", flush=True); time.sleep(120)
'
for port in $((base + 1)) $((base + 141)); do
	hold_and_run "${listener}" "${port}"
	((rc != 0)) || fail "hack/demo.sh exited 0 with 127.0.0.1:${port} taken:
${out}"
	grep -q "demo: port 127.0.0.1:${port} is already in use" <<<"${out}" ||
		fail "hack/demo.sh did not name the busy port 127.0.0.1:${port}:
${out}"
	if grep -q "starting leader" <<<"${out}"; then
		fail "hack/demo.sh started nodes with 127.0.0.1:${port} taken:
${out}"
	fi
	printf 'demo-test: ok: with 127.0.0.1:%s taken, hack/demo.sh exits %d: %s\n' "${port}" "${rc}" "$(grep 'already in use' <<<"${out}")"
done

# An outgoing connection whose local port is the first replica's, closed
# with a reset (no TIME_WAIT) after 3 s.
connection='
import socket, struct, sys, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.socket(); c.bind(("127.0.0.1", int(sys.argv[1]))); c.connect(srv.getsockname())
a, _ = srv.accept(); print("ready", flush=True); time.sleep(3)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close(); a.close()
'
port=$((base + 1))
hold_and_run "${connection}" "${port}"
((rc == 0)) || fail "hack/demo.sh exited ${rc} after 127.0.0.1:${port} was released:
${out}"
grep -q "waiting for a closed connection to release port ${port}" <<<"${out}" ||
	fail "hack/demo.sh did not wait for 127.0.0.1:${port}, held by a connection:
${out}"
printf 'demo-test: ok: with 127.0.0.1:%s held by a connection for 3 s, hack/demo.sh waits and runs to the end\n' "${port}"
