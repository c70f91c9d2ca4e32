#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/images.sh builds the operator and storage-server images and loads them
# into the cluster hack/cluster-up.sh made. It prints the two image
# references on stdout, one per line (operator first).
#
#   SUTRA_IMAGE_TAG   tag of both images (default e2e; never latest, so the
#                     kubelet does not try to pull them)
#
# Binaries: static (CGO_ENABLED=0) builds into bin/, as the Dockerfile expects.
# Images: `docker build` of the Dockerfile's prebuilt targets when a Docker
# daemon answers, otherwise hack/kube/tools' imagebuild writes the same image
# (scratch base, same entrypoint, user and files) without Docker.
# Loading, by the provider recorded by cluster-up.sh:
#   kind      kind load image-archive
#   offline   ctr -n k8s.io images import into the cluster's containerd
#   external  $SUTRA_IMAGE_LOAD <tarball> when set (e.g. a script that pushes
#             to your registry); otherwise the tarballs are left in
#             ~/.cache/sutra/images/ and the script says so.
set -euo pipefail
HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "${HACK}/.." && pwd)"
SCRIPT_NAME=images.sh
# shellcheck source=hack/kube/lib.sh
source "${HACK}/kube/lib.sh"

TAG="${SUTRA_IMAGE_TAG:-e2e}"
[[ "${TAG}" != latest ]] || die "use a tag other than latest (the kubelet would always pull it)"
OPERATOR_IMAGE="sutra-operator:${TAG}"
STORAGE_IMAGE="sutra-storage-server:${TAG}"
OUT="${SUTRA_CACHE}/images"
mkdir -p "${OUT}" "${ROOT}/bin"
t0=$SECONDS

log "building static binaries into bin/"
(cd "${ROOT}" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o bin/ ./cmd/storage-server ./cmd/sutractl &&
	CGO_ENABLED=0 go build -trimpath -ldflags=-s -o bin/manager ./cmd) >&2 || die "go build failed"

if command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; then
	log "building images with docker"
	(cd "${ROOT}" && docker build -q --target storage-server -t "${STORAGE_IMAGE}" . >&2 &&
		docker build -q --target operator -t "${OPERATOR_IMAGE}" . >&2) || die "docker build failed"
	docker save -o "${OUT}/operator.tar" "${OPERATOR_IMAGE}"
	docker save -o "${OUT}/storage-server.tar" "${STORAGE_IMAGE}"
else
	imagebuild="${KUBE_BIN}/imagebuild"
	[[ -x "${imagebuild}" ]] || "${HACK}/kube/build.sh" tools >/dev/null
	log "building images with imagebuild (no Docker daemon)"
	"${imagebuild}" -o "${OUT}/operator.tar" -t "${OPERATOR_IMAGE}" -entrypoint /manager -user 65532:65532 \
		"${ROOT}/bin/manager:/manager"
	"${imagebuild}" -o "${OUT}/storage-server.tar" -t "${STORAGE_IMAGE}" -entrypoint /storage-server -user 65532:65532 \
		-env SUTRA_DATA_DIR=/var/lib/sutra -mkdir /var/lib/sutra:65532:65532 \
		"${ROOT}/bin/storage-server:/storage-server" "${ROOT}/bin/sutractl:/sutractl"
fi

provider="$(cat "${CLUSTER_DIR}/provider" 2>/dev/null || true)"
case "${provider}" in
offline)
	for t in operator storage-server; do
		ctr -a "${CONTAINERD_SOCK}" -n k8s.io images import "${OUT}/$t.tar" >/dev/null || die "ctr import of $t failed"
	done
	;;
kind)
	kind="$(command -v kind || echo "${SUTRA_CACHE}/kind-${SUTRA_KIND_VERSION}/kind")"
	for t in operator storage-server; do
		"${kind}" load image-archive --name "${SUTRA_KIND_CLUSTER:-sutra-e2e}" "${OUT}/$t.tar" >&2 || die "kind load of $t failed"
	done
	;;
*)
	if [[ -n "${SUTRA_IMAGE_LOAD:-}" ]]; then
		for t in operator storage-server; do ${SUTRA_IMAGE_LOAD} "${OUT}/$t.tar" >&2 || die "${SUTRA_IMAGE_LOAD} failed"; done
	else
		log "no cluster from cluster-up.sh; images left in ${OUT}/ (set SUTRA_IMAGE_LOAD to a command that loads a tarball)"
	fi
	;;
esac
log "images ${OPERATOR_IMAGE} and ${STORAGE_IMAGE} ready in $((SECONDS - t0))s (${provider:-not loaded})"
printf '%s\n%s\n' "${OPERATOR_IMAGE}" "${STORAGE_IMAGE}"
