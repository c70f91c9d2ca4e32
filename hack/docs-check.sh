#!/usr/bin/env bash
# Copyright 2026 The Sutra Authors.
# SPDX-License-Identifier: Apache-2.0
#
# hack/docs-check.sh (make docs-check) keeps the operator guides honest.
#
# Static checks:
#   - every SUTRA_* variable and every flag in internal/node/config.go appears
#     in docs/reference.md;
#   - every sutra_* metric in internal/node/metrics.go appears in docs/metrics.md;
#   - every sutra_* metric used by deploy/prometheus/alerts.yaml and the
#     dashboard exists in internal/node/metrics.go;
#   - deploy/grafana/sutra-dashboard.json is well-formed JSON with queries;
#   - every runbook_url anchor in alerts.yaml is a heading of
#     docs/troubleshooting.md, and every relative link in the guides points at
#     an existing file (and heading).
#
# Live checks: shell blocks of the guides marked with a comment on the line
# before the opening ```sh fence are run against a local cluster of
# processes on 127.0.0.1, like hack/demo.sh:
#
#   <!-- docs-check: start -->     starts the cluster (exactly one, in setup.md);
#                                  its background jobs are stopped at the end
#   <!-- docs-check -->            must exit 0
#   <!-- docs-check: standalone --> must exit 0; runs from the repository root
#                                  (README.md: "from a checkout") with ports of
#                                  its own, before and apart from the cluster;
#                                  its background jobs are stopped when it ends
#   <!-- docs-check: grpcurl -->   must exit 0; needs grpcurl, which is installed
#                                  pinned (GRPCURL_VERSION) and cached like
#                                  hack/tools.sh; skipped if it cannot be built
#
# Blocks run in order (README.md, then setup.md) with `bash -e`, in one scratch
# directory, with bin/ on PATH, exactly as pasted: nothing waits or polls
# between them, so a block that needs the nodes ready must wait itself
# (sutractl wait, get --wait). Like a user's shell there is no pipefail: a
# pipeline such as `cmd | grep text` passes when grep finds the text. The guides use the ports of
# hack/demo.sh (gRPC 50051-50053, metrics 9191-9193); this script rewrites
# them to SUTRA_DOCS_CHECK_PORT (default 26051) .. +2 and +140 .. +142 (standalone
# blocks: +10 .. +12 and +150 .. +152) so it can run next to a demo; the default sits below Linux's ephemeral port range
# (32768-60999), so no outgoing connection can hold one of these ports. After the blocks it scrapes the nodes and checks
# that every metric documented in docs/metrics.md is really exported.
#
# If promtool is already installed (hack/promtool.sh; set
# DOCS_CHECK_PROMTOOL=1 to install it), every dashboard query is also parsed.
# If Prometheus itself is installed in the tools cache (prometheus-<version>,
# the promtool version; DOCS_CHECK_PROMETHEUS=1 builds it, about as slow as
# promtool), it scrapes the local cluster with deploy/prometheus/alerts.yaml
# loaded, and every dashboard query must return data and no alert may be
# pending or firing on the healthy cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

GRPCURL_VERSION=v1.9.4
TOOLS_DIR="${SUTRA_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sutra/tools}"
GUIDES=(README.md docs/setup.md docs/reference.md docs/metrics.md docs/troubleshooting.md docs/tuning.md)
DASHBOARD=deploy/grafana/sutra-dashboard.json
ALERTS=deploy/prometheus/alerts.yaml
base=${SUTRA_DOCS_CHECK_PORT:-26051}

work=$(mktemp -d -t sutra-docs-check-XXXXXX)
pids=()
failures=()
cleanup() {
	local rc=$?
	if ((${#pids[@]})); then
		kill -TERM "${pids[@]}" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "${pids[@]}" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "${pids[@]}" 2>/dev/null || true
	fi
	rm -rf "${work}"
	exit "${rc}"
}
trap cleanup EXIT

say() { printf '==> %s\n' "$*"; }
fail() {
	printf 'docs-check: FAIL: %s\n' "$*" >&2
	failures+=("$*")
}

# ---- static checks ---------------------------------------------------------

say "configuration: every SUTRA_* variable and flag of internal/node/config.go in docs/reference.md"
for v in $(grep -oE 'SUTRA_[A-Z0-9_]+' internal/node/config.go | sort -u); do
	grep -q "\`${v}\`" docs/reference.md || fail "docs/reference.md does not document ${v}"
done
for f in $(grep -oE 'fs\.[A-Za-z0-9]+Var\(&[^,]+, "[a-z0-9-]+"' internal/node/config.go | sed -E 's/.*"([^"]+)"$/\1/' | sort -u); do
	grep -q "\`--${f}\`" docs/reference.md || fail "docs/reference.md does not document the flag --${f}"
done

say "values: limits, status codes and image names in the guides match the code"
max_batch=$(sed -nE 's/^const MaxBatch = ([0-9_]+)$/\1/p' internal/engine/write.go | tr -d _)
[[ -n "${max_batch}" ]] || fail "no MaxBatch constant in internal/engine/write.go"
max_batch_doc=$(sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"${max_batch}")
grep -q "at most ${max_batch_doc} operations" docs/reference.md ||
	fail "docs/reference.md does not give the BatchWrite limit as ${max_batch_doc} (engine.MaxBatch)"
if grep -nE "(^|[^0-9,])[0-9,]+ (ops|operations|writes)" docs/reference.md | grep -v "${max_batch_doc} "; then
	fail "docs/reference.md gives a batch limit other than ${max_batch_doc}"
fi
unusable=$(sed -nE 's/.*\{wal\.ErrUnusable, codes\.([A-Za-z]+)\}.*/\1/p' internal/grpcapi/errors.go |
	sed -E 's/([a-z])([A-Z])/\1_\2/g' | tr '[:lower:]' '[:upper:]')
grep -qE '^\| `'"${unusable}"'` \|.*log unusable after failed write' docs/reference.md ||
	fail "docs/reference.md: a failed WAL write is not in the ${unusable} row (internal/grpcapi/errors.go)"
if grep -q 'fmt.Errorf("operation %d: ' internal/engine/write.go && ! grep -q '`operation i:`' docs/reference.md; then
	fail "docs/reference.md does not quote the engine's batch error prefix 'operation i:'"
fi
storage_image=$(sed -nE 's/^STORAGE_IMAGE="([a-z-]+):.*/\1/p' hack/images.sh)
for f in config/samples/*.yaml docs/setup.md Makefile Dockerfile deploy/docker-compose.yml hack/compose-test.sh; do
	if grep -nE 'sutra-storage(-[a-z]+)?:[a-z0-9$]' "$f" | grep -v "${storage_image}:"; then
		fail "$f names a storage image other than ${storage_image}:<tag>, which hack/images.sh builds"
	fi
done

say "build commands: none builds ./cmd/... into bin/ (the operator would land as bin/cmd, not bin/manager)"
while IFS= read -r hit; do
	fail "${hit}: go build -o bin/ ./cmd/... names the operator bin/cmd; build it with -o bin/manager ./cmd"
done < <(git ls-files README.md docs Dockerfile Makefile hack charts deploy | grep -vx hack/docs-check.sh | xargs grep -HnE 'go build .*\./cmd/\.\.\.' 2>/dev/null || true)

say "e2e: every command that runs the Ginkgo suite asks for spec names (-ginkgo.v)"
while IFS= read -r hit; do
	fail "${hit%%:*}: runs the e2e suite without -ginkgo.v, so Ginkgo prints only dots: ${hit#*:}"
done < <(grep -HnE 'go test .*\./test/e2e/?( |$|")' hack/ci-e2e.sh Makefile docs/e2e.md | grep -v -- '-ginkgo\.v')

say "metrics: every sutra_* metric of internal/node/metrics.go in docs/metrics.md"
metrics=$(grep -oE '"sutra_[a-z0-9_]+"' internal/node/metrics.go | tr -d '"' | sort -u)
[[ -n "${metrics}" ]] || fail "no sutra_ metrics found in internal/node/metrics.go"
for m in ${metrics}; do
	grep -q "\`${m}\`" docs/metrics.md || fail "docs/metrics.md does not document ${m}"
done

# used_metrics FILE: sutra_* names a file queries, without histogram suffixes.
used_metrics() {
	grep -oE 'sutra_[a-z0-9_]+' "$1" | sed -E 's/_(bucket|sum|count)$//' | sort -u
}
for file in "${ALERTS}" "${DASHBOARD}"; do
	for m in $(used_metrics "${file}"); do
		grep -qx "${m}" <<<"${metrics}" || fail "${file} uses ${m}, which internal/node/metrics.go does not export"
	done
done

say "dashboard: ${DASHBOARD} is valid JSON with queries"
json_ok() {
	if command -v jq >/dev/null 2>&1; then
		jq -e '.title and .uid and (.panels | length > 0)
			and ([.panels[] | select(.type != "row") | select((.targets // []) | length == 0)] | length == 0)
			and ([.panels[] | .targets[]? | select((.expr // "") == "")] | length == 0)' "$1" >/dev/null
	else
		python3 - "$1" <<-'EOF'
			import json, sys
			d = json.load(open(sys.argv[1]))
			assert d["title"] and d["uid"] and d["panels"]
			for p in d["panels"]:
			    if p["type"] != "row":
			        assert p.get("targets"), p["title"]
			        assert all(t.get("expr") for t in p["targets"]), p["title"]
		EOF
	fi
}
json_ok "${DASHBOARD}" || fail "${DASHBOARD} is not valid JSON, or a panel has no query"
for f in deploy/grafana/provisioning/*/*.yaml; do
	[[ -s "$f" ]] || fail "$f is empty"
done

# slugs FILE: GitHub's anchors for the Markdown headings of FILE.
slugs() {
	grep -E '^#{1,6} ' "$1" | sed -E 's/^#+ +//' | tr '[:upper:]' '[:lower:]' |
		sed -E 's/[^a-z0-9 _-]//g; s/ /-/g'
}

say "links: runbook_url anchors and relative links in the guides"
trouble_slugs=$(slugs docs/troubleshooting.md)
for a in $(grep -oE 'runbook_url: .*#[a-z0-9-]+' "${ALERTS}" | sed 's/.*#//'); do
	grep -qx "$a" <<<"${trouble_slugs}" || fail "${ALERTS}: runbook anchor #$a is not a heading in docs/troubleshooting.md"
done
for g in "${GUIDES[@]}"; do
	while IFS= read -r link; do
		target=${link%%#*}
		anchor=
		[[ "$link" == *"#"* ]] && anchor=${link#*#}
		file=$g
		[[ -n "$target" ]] && file="$(dirname "$g")/${target}"
		if [[ ! -e "$file" ]]; then
			fail "$g links to ${link}, which does not exist"
		elif [[ -n "$anchor" && "$file" == *.md ]] && ! slugs "$file" | grep -qx "$anchor"; then
			fail "$g links to ${link}: no such heading"
		fi
	done < <(grep -oE '\]\([^)]+\)' "$g" | sed -E 's/^\]\(//; s/\)$//' | grep -vE '^(https?:|mailto:)')
done

# ---- live checks -------------------------------------------------------------

say "building storage-server and sutractl"
CGO_ENABLED=0 go build -o bin/ ./cmd/storage-server ./cmd/sutractl

grpcurl_bin=
install_grpcurl() {
	local dir="${TOOLS_DIR}/grpcurl-${GRPCURL_VERSION}"
	if [[ ! -x "${dir}/grpcurl" ]]; then
		say "installing grpcurl ${GRPCURL_VERSION} into ${dir} (first run only)"
		mkdir -p "${dir}"
		(cd "${dir}" && GOBIN="${dir}" GOFLAGS=-mod=mod GOWORK=off \
			go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@${GRPCURL_VERSION}") >"${work}/grpcurl-install.log" 2>&1 || {
			tail -n 5 "${work}/grpcurl-install.log" >&2
			return 1
		}
	fi
	grpcurl_bin="${dir}/grpcurl"
}
if ! install_grpcurl; then
	printf 'docs-check: note: grpcurl %s could not be built; grpcurl blocks are skipped\n' "${GRPCURL_VERSION}" >&2
fi

# Extract the marked blocks: one file per block, named NNN-TAG, with a
# header line naming its source.
mkdir -p "${work}/blocks" "${work}/run"
n=0
for g in "${GUIDES[@]}"; do
	awk -v src="$g" -v dir="${work}/blocks" -v start="$n" '
		function flush() { close(out) }
		/^<!-- docs-check(: [a-z]+)? -->$/ {
			tag = $0; sub(/^<!-- docs-check:? */, "", tag); sub(/ *-->$/, "", tag)
			if (tag == "") tag = "run"
			marked = NR; next
		}
		marked == NR - 1 && /^```(sh|bash)$/ {
			n++; out = sprintf("%s/%03d-%s", dir, start + n, tag)
			printf "# %s:%d\n", src, NR > out
			inblock = 1; marked = 0; next
		}
		inblock && /^```$/ { inblock = 0; flush(); next }
		inblock { print > out }
		{ marked = marked == NR ? marked : 0 }
	' "$g"
	n=$(find "${work}/blocks" -type f | wc -l)
done
((n > 0)) || fail "no <!-- docs-check --> blocks found in the guides"

# Port rewriting: demo ports in the guides -> this run's ports.
p0=$base p1=$((base + 1)) p2=$((base + 2)) m0=$((base + 140)) m1=$((base + 141)) m2=$((base + 142))
rewrite() { # rewrite FILE [OFFSET]: OFFSET shifts every port (standalone blocks)
	local o=${2:-0}
	sed -E "s/:50051([^0-9]|$)/:$((p0 + o))\1/g; s/:50052([^0-9]|$)/:$((p1 + o))\1/g; s/:50053([^0-9]|$)/:$((p2 + o))\1/g;
		s/:9191([^0-9]|$)/:$((m0 + o))\1/g; s/:9192([^0-9]|$)/:$((m1 + o))\1/g; s/:9193([^0-9]|$)/:$((m2 + o))\1/g" "$1"
}

export PATH="${root}/bin:${PATH}"
[[ -n "${grpcurl_bin}" ]] && export PATH="$(dirname "${grpcurl_bin}"):${PATH}"
started=
ran=0
skipped=0
for b in "${work}"/blocks/*; do
	tag=${b##*-}
	src=$(head -n 1 "$b" | sed 's/^# //')
	script="${work}/run/$(basename "$b").sh"
	rewrite "$b" >"${script}"
	case "$tag" in
	start)
		[[ -z "${started}" ]] || fail "${src}: a second start block"
		say "run ${src} (start the cluster on 127.0.0.1:${p0}-${p2})"
		# A failing block stops the nodes it started; a passing one hands them over.
		{
			echo 'trap '"'"'[[ $? -eq 0 ]] || kill $(jobs -p) 2>/dev/null'"'"' EXIT'
			rewrite "$b"
			echo 'jobs -p >"${DOCS_CHECK_PIDS}"'
		} >"${script}"
		(cd "${work}" && DOCS_CHECK_PIDS="${work}/pids" timeout 60 bash -e "${script}") ||
			{ fail "${src}: the start block failed"; break; }
		mapfile -t pids <"${work}/pids"
		started=1
		# The block exported SUTRA_CONTEXT for the shell it was pasted in;
		# the blocks after it, and this script's own calls, are that shell.
		[[ -f "${work}/certs/admin-me.yaml" ]] && export SUTRA_CONTEXT="${work}/certs/admin-me.yaml"
		# No waiting here: the block itself must leave the cluster ready.
		sutractl status --addr "127.0.0.1:${p0}" >"${work}/status.txt" 2>&1 || true
		grep -q ' streaming .* true ' "${work}/status.txt" || {
			cat "${work}/status.txt" >&2
			tail -n 5 "${work}"/*.log >&2 || true
			fail "${src}: the cluster did not come up"
			break
		}
		continue
		;;
	standalone)
		say "run ${src} (from the repository root, on 127.0.0.1:$((p0 + 10))-$((p1 + 10)))"
		{
			echo 'trap '"'"'kill $(jobs -p) 2>/dev/null; wait'"'"' EXIT'
			rewrite "$b" 10
		} >"${script}"
		if (cd "${root}" && TMPDIR="${work}" timeout 120 bash -e "${script}") >"${work}/out" 2>&1; then
			sed 's/^/    /' "${work}/out" | head -n 40
			ran=$((ran + 1))
		else
			sed 's/^/    /' "${work}/out" >&2
			fail "${src}: block exited non-zero"
		fi
		continue
		;;
	grpcurl)
		if [[ -z "${grpcurl_bin}" ]]; then
			say "skip ${src} (no grpcurl)"
			skipped=$((skipped + 1))
			continue
		fi
		;;
	run) ;;
	*)
		fail "${src}: unknown docs-check tag '${tag}'"
		continue
		;;
	esac
	[[ -n "${started}" ]] || { fail "${src}: runs before any start block"; continue; }
	say "run ${src}"
	if (cd "${work}" && timeout 120 bash -e "${script}") >"${work}/out" 2>&1; then
		sed 's/^/    /' "${work}/out" | head -n 40
		ran=$((ran + 1))
	else
		sed 's/^/    /' "${work}/out" >&2
		fail "${src}: block exited non-zero"
	fi
done

if [[ -n "${started}" ]]; then
	say "metrics: everything docs/metrics.md lists is exported by a running node"
	for a in "${m0}" "${m1}" "${m2}"; do
		curl -fsS "http://127.0.0.1:${a}/metrics" || fail "no /metrics on 127.0.0.1:${a}"
	done >"${work}/metrics.txt"
	for m in ${metrics}; do
		grep -qE "^${m}(_bucket|_sum|_count)?(\{| )" "${work}/metrics.txt" ||
			fail "${m} is documented but no node exports it"
	done
	for m in process_resident_memory_bytes go_memstats_heap_inuse_bytes; do
		grep -qE "^${m} " "${work}/metrics.txt" || fail "the dashboard uses ${m}, which no node exports"
	done
fi

# ---- dashboard queries against a real Prometheus (optional) ------------------

prom_version=$(sed -n 's/^PROMTOOL_VERSION=//p' hack/promtool.sh | cut -d' ' -f1)
prometheus="${TOOLS_DIR}/prometheus-${prom_version}/prometheus"
if [[ ! -x "${prometheus}" && -n "${DOCS_CHECK_PROMETHEUS:-}" ]]; then
	say "installing prometheus ${prom_version} into $(dirname "${prometheus}") (first run only; several minutes)"
	mkdir -p "$(dirname "${prometheus}")"
	(cd "$(dirname "${prometheus}")" && GOBIN="$(dirname "${prometheus}")" GOFLAGS=-mod=mod GOWORK=off \
		go install "github.com/prometheus/prometheus/cmd/prometheus@${prom_version}") >&2 ||
		fail "go install prometheus@${prom_version} failed"
fi
if [[ -n "${started}" && -x "${prometheus}" ]] && command -v jq >/dev/null 2>&1; then
	say "dashboard: every query returns data from Prometheus scraping the cluster"
	pp=$((base + 39))
	cp "${ALERTS}" "${work}/alerts.yaml"
	cat >"${work}/prometheus.yml" <<-EOF
		global: {scrape_interval: 1s, evaluation_interval: 1s}
		rule_files: [alerts.yaml]
		scrape_configs:
		  - job_name: sutra
		    static_configs:
		      - targets: ["127.0.0.1:${m0}"]
		        labels: {role: leader}
		      - targets: ["127.0.0.1:${m1}", "127.0.0.1:${m2}"]
		        labels: {role: replica}
	EOF
	"${prometheus}" --config.file="${work}/prometheus.yml" --storage.tsdb.path="${work}/tsdb" \
		--web.listen-address="127.0.0.1:${pp}" >"${work}/prometheus.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 60); do
		curl -fsS "http://127.0.0.1:${pp}/-/ready" >/dev/null 2>&1 && break
		sleep 0.5
	done
	curl -fsS "http://127.0.0.1:${pp}/-/ready" >/dev/null 2>&1 || {
		tail -n 20 "${work}/prometheus.log" >&2
		fail "Prometheus did not become ready on 127.0.0.1:${pp}"
	}
	query() { curl -fsS --data-urlencode "query=$1" "http://127.0.0.1:${pp}/api/v1/query" | jq '.data.result | length'; }
	# Scrape for a while with writes going, so rates and histograms have samples.
	sutractl bench --leader "127.0.0.1:${p0}" --rate 200 --duration 8s --connections 4 --settle 5s >/dev/null ||
		fail "bench during the Prometheus check failed"
	[[ $(query 'up{job="sutra"} == 1' 2>/dev/null) == 3 ]] || fail "Prometheus does not scrape all three nodes"
	empty=0
	while IFS=$'\t' read -r title expr; do
		e=$(sed 's/\$__rate_interval/1m/g; s/\$job/.+/g' <<<"${expr}")
		n=$(query "$e" 2>/dev/null) || n=error
		if [[ "$n" == error || "$n" == 0 ]]; then
			fail "dashboard panel '${title}': query returned ${n}: ${expr}"
			empty=$((empty + 1))
		fi
	done < <(jq -r '.panels[] | select(.type != "row") | .title as $t | .targets[] | [$t, .expr] | @tsv' "${DASHBOARD}")
	printf '    %d queries, %d without data\n' "$(jq '[.panels[] | .targets[]?] | length' "${DASHBOARD}")" "${empty}"
	active=$(curl -fsS "http://127.0.0.1:${pp}/api/v1/alerts" | jq -r '[.data.alerts[] | .labels.alertname + " " + .state] | join(", ")')
	[[ -z "${active}" ]] || fail "alerts active on the healthy cluster: ${active}"
else
	say "skip: dashboard queries against Prometheus (not installed; DOCS_CHECK_PROMETHEUS=1 builds it)"
fi

# ---- dashboard queries through promtool (optional) ---------------------------

promtool="${TOOLS_DIR}/promtool-$(sed -n 's/^PROMTOOL_VERSION=//p' hack/promtool.sh | cut -d' ' -f1)/promtool"
if [[ -n "${DOCS_CHECK_PROMTOOL:-}" ]]; then
	promtool=$(hack/promtool.sh path)
fi
if [[ -x "${promtool}" ]]; then
	say "dashboard: parsing every query with promtool"
	{
		echo "groups:"
		echo "  - name: dashboard"
		echo "    rules:"
		i=0
		jq -r '.panels[] | .targets[]? | .expr' "${DASHBOARD}" |
			sed 's/\$__rate_interval/1m/g; s/\$job/.+/g' | while IFS= read -r e; do
			i=$((i + 1))
			printf '      - record: dashboard:query_%d\n        expr: %s\n' "$i" "$(jq -Rn --arg e "$e" '$e')"
		done
	} >"${work}/dashboard-rules.yaml"
	"${promtool}" check rules "${work}/dashboard-rules.yaml" >"${work}/promtool.out" 2>&1 &&
		sed -n 's/^ *SUCCESS: \([0-9]*\) rules found/    \1 queries parse/p' "${work}/promtool.out" || {
		cat "${work}/promtool.out" >&2
		fail "a dashboard query does not parse"
	}
else
	say "skip: dashboard query parsing (promtool not installed; DOCS_CHECK_PROMTOOL=1 installs it)"
fi

if ((${#failures[@]})); then
	printf '\ndocs-check: %d problem(s):\n' "${#failures[@]}" >&2
	printf '  - %s\n' "${failures[@]}" >&2
	exit 1
fi
say "docs-check passed: ${ran} blocks run, ${skipped} skipped"
