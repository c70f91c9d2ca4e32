#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/previous-images.sh builds the operator image of an earlier version,
# for the e2e suite's upgrade test, and exports that version's chart. It
# prints two lines: the operator image and the chart directory.
#
#   E2E_PREVIOUS_REF   the git revision to build (default: the last version
#                      whose operator ran StatefulSets)
#
# The revision must be in this clone's history (a shallow clone is
# unshallowed first); without it the script fails with a clear line, it
# never skips the test silently.
set -euo pipefail
HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "${HACK}/.." && pwd)"
REF="${E2E_PREVIOUS_REF:-269e3bb57e06ac329c8a6e4bba22a59c37613b62}"
have() { git -C "${ROOT}" rev-parse --verify --quiet "${REF}^{commit}" >/dev/null; }
if ! have && [[ "$(git -C "${ROOT}" rev-parse --is-shallow-repository)" == true ]]; then
	echo "previous-images.sh: shallow clone; fetching the history for ${REF}" >&2
	git -C "${ROOT}" fetch --quiet --unshallow || true
fi
have || { echo "previous-images.sh: revision ${REF} is not in this clone; fetch it or set E2E_PREVIOUS_REF" >&2; exit 1; }
DIR="${SUTRA_PREVIOUS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sutra/previous}"
rm -rf "${DIR}"
mkdir -p "${DIR}"
git -C "${ROOT}" archive "${REF}" | tar -x -C "${DIR}"
# Only the operator image: the storage server of this tree runs under both.
images="$(SUTRA_IMAGE_TAG=previous "${DIR}/hack/images.sh")"
sed -n 1p <<<"${images}"
echo "${DIR}/charts/sutra-operator"
