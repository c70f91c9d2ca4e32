#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/ci-e2e.sh: the CI end-to-end job. Brings a cluster up, builds and loads
# the images, runs the e2e suite, and always tears the cluster down (also on
# failure or interruption). Prints the duration of each step.
#
#   E2E_ARTIFACTS   where failed specs save logs/events/YAML
#                   (default: ./_artifacts/e2e, kept after the run)
#   E2E_TIMEOUT     go test timeout (default 40m)
set -euo pipefail
cd "$(dirname "$0")/.."
export E2E_ARTIFACTS="${E2E_ARTIFACTS:-$PWD/_artifacts/e2e}"
mkdir -p "${E2E_ARTIFACTS}"

timings=()
step() { # step NAME CMD...
	local name=$1 t0=$SECONDS
	shift
	echo "==> ${name}" >&2
	local rc=0
	"$@" || rc=$?
	timings+=("${name}: $((SECONDS - t0))s$([[ ${rc} -eq 0 ]] || echo " (failed, exit ${rc})")")
	return "${rc}"
}
report() {
	local rc=$?
	echo "==> cluster-down" >&2
	local t0=$SECONDS
	hack/cluster-down.sh || true
	timings+=("cluster-down: $((SECONDS - t0))s")
	printf '==> timings\n' >&2
	printf '  %s\n' "${timings[@]}" >&2
	exit "${rc}"
}
trap report EXIT

up() { KUBECONFIG_PATH="$(hack/cluster-up.sh)"; }
step cluster-up up
export KUBECONFIG="${KUBECONFIG_PATH}"
step images hack/images.sh
step test-e2e go test -tags e2e -count=1 -timeout "${E2E_TIMEOUT:-40m}" -v ./test/e2e/ -ginkgo.v
