#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/promtool.sh installs Prometheus' promtool at a pinned version and runs it.
#
#   hack/promtool.sh path              install if missing, print the binary path
#   hack/promtool.sh <promtool args>   install if missing, then exec promtool
#
# Like hack/tools.sh, the binary is built with `GOBIN=<dir> go install` into
#   ${SUTRA_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sutra/tools}/promtool-<version>/
# outside the work tree and reused afterwards. The first build is slow (about
# 7 minutes on 2 cores with cold caches); later runs start immediately.
#
# Makefile use:  hack/promtool.sh check rules deploy/prometheus/alerts.yaml
set -euo pipefail

# v0.316.0 is Prometheus 3.x and the newest promtool the module proxy serves;
# it builds with go1.26 (GOTOOLCHAIN=local). `promtool --version` prints an
# empty version because no ldflags are set.
PROMTOOL_VERSION=v0.316.0
PROMTOOL_PKG=github.com/prometheus/prometheus/cmd/promtool

TOOLS_DIR="${SUTRA_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sutra/tools}"

log() { printf 'promtool.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

install_promtool() {
	local dir="${TOOLS_DIR}/promtool-${PROMTOOL_VERSION}"
	local bin="${dir}/promtool"
	if [[ ! -x "${bin}" ]]; then
		command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go (see go.mod for the version)"
		mkdir -p "${dir}"
		log "installing ${PROMTOOL_PKG}@${PROMTOOL_VERSION} into ${dir} (first run only; about 7 minutes)"
		# Build outside any module so the project's go.mod does not affect the tool's deps.
		(cd "${dir}" && GOBIN="${dir}" GOFLAGS=-mod=mod GOWORK=off go install "${PROMTOOL_PKG}@${PROMTOOL_VERSION}") >&2 ||
			die "go install ${PROMTOOL_PKG}@${PROMTOOL_VERSION} failed"
		[[ -x "${bin}" ]] || die "go install did not produce ${bin}"
	fi
	printf '%s\n' "${bin}"
}

main() {
	if [[ $# -eq 0 ]]; then
		printf 'usage: %s path | <promtool arguments>\n' "$0" >&2
		exit 2
	fi
	local bin
	bin=$(install_promtool)
	if [[ "$1" == path ]]; then
		printf '%s\n' "${bin}"
		return
	fi
	exec "${bin}" "$@"
}

main "$@"
