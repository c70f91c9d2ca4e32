#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/gen-proto.sh regenerates the Go code for proto/*.proto into
# internal/pb/<name>pb/ with the pinned tools from hack/tools.sh.
#
# The compiler is buf (github.com/bufbuild/buf, pinned in hack/tools.sh and
# built with `go install` from the Go module proxy into the tools cache). buf
# parses the .proto files itself and runs protoc-gen-go and protoc-gen-go-grpc
# as local plugins, so only Go is needed. If buf cannot be built, the script
# says so and falls back to protoc (`hack/tools.sh protoc`: the protoc on
# PATH, else Debian's protobuf-compiler installed with apt-get).
# SUTRA_PROTO_COMPILER=buf or =protoc picks one explicitly, with no fallback.
#
# The output is deterministic: the same inputs give byte-identical files,
# with either compiler. The plugins write the compiler's version into each
# file header: buf reports none ("protoc (unknown)"), protoc reports its own
# ("protoc v3.21.12"), which differs between machines. That one line is
# rewritten to "protoc (system)" whoever wrote it, so the committed files do
# not depend on which compiler, or which protoc release, regenerated them.
# Everything else is the plugins' output, pinned by their versions in
# hack/tools.sh.
#
#   hack/gen-proto.sh            regenerate in place
#   hack/gen-proto.sh --check    fail if the committed files are stale
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

log() { echo "gen-proto: $*" >&2; }

check=false
case "${1:-}" in
"") ;;
--check) check=true ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

PROTOC_GEN_GO="$(hack/tools.sh protoc-gen-go)"
PROTOC_GEN_GO_GRPC="$(hack/tools.sh protoc-gen-go-grpc)"

MODULE=github.com/sutra/sutra-operator
OUT_ROOT=internal/pb
PROTOS=(proto/admin.proto proto/replication.proto proto/storage.proto)

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
tmp="${work}/out"
mkdir -p "${tmp}"

compiler="${SUTRA_PROTO_COMPILER:-}"
case "${compiler}" in
"")
	if BUF="$(hack/tools.sh buf)"; then
		compiler=buf
	else
		log "WARNING: buf could not be built (see above); falling back to protoc, which is installed with apt-get when it is not on PATH"
		compiler=protoc
	fi
	;;
buf) BUF="$(hack/tools.sh buf)" ;;
protoc) ;;
*) log "SUTRA_PROTO_COMPILER must be buf or protoc, not '${compiler}'"; exit 2 ;;
esac

# Generate into a scratch tree; module= strips the import-path prefix so the
# files land at internal/pb/<pkg>/ relative to ${tmp}. proto/ is the import
# root for both compilers (admin.proto imports "replication.proto").
if [[ "${compiler}" == buf ]]; then
	# The template names the pinned plugins by absolute path (local plugins
	# only: nothing is fetched from the Buf Schema Registry).
	cat >"${work}/buf.gen.yaml" <<EOF
version: v2
plugins:
  - local: ${PROTOC_GEN_GO}
    out: ${tmp}
    opt: module=${MODULE}
  - local: ${PROTOC_GEN_GO_GRPC}
    out: ${tmp}
    opt: module=${MODULE}
EOF
	paths=()
	for p in "${PROTOS[@]}"; do paths+=(--path "${p}"); done
	BUF_CACHE_DIR="${BUF_CACHE_DIR:-${work}/buf-cache}" \
		"${BUF}" generate proto --template "${work}/buf.gen.yaml" "${paths[@]}"
else
	PROTOC="$(hack/tools.sh protoc)"
	log "generating with ${PROTOC} ($("${PROTOC}" --version))"
	"${PROTOC}" \
		--proto_path=proto \
		--plugin=protoc-gen-go="${PROTOC_GEN_GO}" \
		--plugin=protoc-gen-go-grpc="${PROTOC_GEN_GO_GRPC}" \
		--go_out="${tmp}" --go_opt=module="${MODULE}" \
		--go-grpc_out="${tmp}" --go-grpc_opt=module="${MODULE}" \
		"${PROTOS[@]#proto/}"
fi

# Pin the compiler version line: "// - protoc v3.21.12" or
# "// - protoc (unknown)" in the gRPC files, "// 	protoc        v3.21.12" or
# "// 	protoc        (unknown)" in the message files.
find "${tmp}" -name '*.go' -print0 | while IFS= read -r -d '' f; do
	sed -E -i 's#^(//[[:space:]]+-?[[:space:]]*protoc[[:space:]]+)(v?[0-9][^[:space:]]*|\([a-z]+\))$#\1(system)#' "${f}"
done

gofmt -l "${tmp}" | grep . && { log "generated code is not gofmt-clean"; exit 1; }

if ${check}; then
	status=0
	for dir in "${tmp}/${OUT_ROOT}"/*/; do
		pkg="$(basename "${dir}")"
		if ! diff -r "${dir%/}" "${OUT_ROOT}/${pkg}" >&2; then
			status=1
		fi
	done
	if [[ ${status} -ne 0 ]]; then
		log "${OUT_ROOT} is stale; run hack/gen-proto.sh"
		exit 1
	fi
	log "${OUT_ROOT} is up to date (generated with ${compiler})"
	exit 0
fi

# Replace each generated package directory whole, so files for removed
# services or protos do not linger. internal/pb/doc.go is not touched.
for dir in "${tmp}/${OUT_ROOT}"/*/; do
	pkg="$(basename "${dir}")"
	rm -rf "${OUT_ROOT:?}/${pkg:?}"
	mkdir -p "${OUT_ROOT}"
	cp -R "${dir%/}" "${OUT_ROOT}/${pkg}"
done
log "regenerated $(find "${OUT_ROOT}" -name '*.pb.go' | wc -l | tr -d ' ') files under ${OUT_ROOT} with ${compiler}"
