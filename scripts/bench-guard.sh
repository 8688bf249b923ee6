#!/usr/bin/env bash
# Measures what the abuse guard costs the send path, for BENCHMARKS.md: wrk
# POST /2fa/send (codes) or POST .../Messages.json (the messages API), with
# sandbox delivery and a fresh number each time, against `otpgate serve`
# with the guard on and with --abuse-guard=off, in alternating rounds, each
# on a fresh store: on the embedded SQLite, then on PostgreSQL.
#
# "On" is the default ceilings and limits (each SMS counted against its
# number's 10/1h and its account's daily budget in the send's own
# transaction) and the SMS-pumping guard counting every SMS (its in-memory
# counts, shared through the store every 2 s), with --pumping-prefix-sends
# 1000000000 and --daily-budget 100000000 so that bench's sequential
# numbers, which look like pumping, and its volume are counted and never
# refused: the guard's whole cost, none of its refusals.
# Needs Go, wrk, and for PostgreSQL psql (skipped without it).
#   scripts/bench-guard.sh [concurrency] [duration] [rounds]   (default 64 10s 3)
#   OTPGATE_BENCH_API=messages: the messages API instead of /2fa/send
#   OTPGATE_BENCH_PG: an admin URL (default postgres://postgres@127.0.0.1:5432/postgres)
#   OTPGATE_BENCH_SKIP_SQLITE=1: PostgreSQL only
set -euo pipefail
cd "$(dirname "$0")/.."
conc=${1:-64}
dur=${2:-10s}
rounds=${3:-3}
threads=2
admin=${OTPGATE_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
command -v wrk >/dev/null || { echo "bench-guard.sh: wrk not found (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d)
dbs=()
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for d in "${dbs[@]}"; do psql "$admin" -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
go build -o "$work/otpgate" ./cmd/otpgate
otpgate="$work/otpgate"

# run TAG [flags]: one otpgate serve on a fresh store, loaded by wrk send.
n=0
run() {
	local tag=$1
	shift
	n=$((n + 1))
	"$otpgate" serve --addr 127.0.0.1:0 --data-dir "$work/data-$n" --log-format text "$@" >"$work/$n.out" 2>"$work/$n.log" &
	local pid=$!
	pids+=("$pid")
	for _ in $(seq 150); do grep -q "otpgate listening" "$work/$n.log" 2>/dev/null && grep -q "Auth token" "$work/$n.out" && break; sleep 0.1; done
	local addr
	addr=$(grep -o 'msg="otpgate listening" addr=[0-9.:]*' "$work/$n.log" | sed 's/.*addr=//')
	local basic
	basic=$(printf '%s:%s' "$(awk '/Account SID/ {print $3}' "$work/$n.out")" "$(awk '/Auth token:/ {print $3}' "$work/data-$n/first-account.txt")" | base64 | tr -d '\n')
	BENCH_BASIC=$basic BENCH_BASE=$((n * 1000000)) BENCH_THREADS=$threads BENCH_CONNS=$conc BENCH_STATE="$work/sent-$n" \
		BENCH_SID=$(awk '/Account SID/ {print $3}' "$work/$n.out") \
		wrk -t$threads -c"$conc" -d"$dur" --latency -s "scripts/wrk/$script" "http://$addr" >"$work/wrk-$n.txt"
	kill "$pid"; wait "$pid" 2>/dev/null || true
	awk -v tag="$tag" '/^Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {e=$5} END {printf "%-26s %8.0f sends/s  p50 %-9s p99 %-9s non-2xx %s\n", tag, r, p50, p99, (e == "" ? 0 : e)}' "$work/wrk-$n.txt" | tee -a "$work/results.txt"
}

echo "# otpgate scripts/bench-guard.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "# $(nproc) cores, $(go version | awk '{print $3}'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'); $conc connections, $dur per round; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# OTPGATE_BENCH_GUARD_ON: the "on" flags instead (say, to measure one part:
# "--pumping-prefix-sends 1000000000 --limit-per-number off").
read -r -a on <<<"${OTPGATE_BENCH_GUARD_ON:---pumping-prefix-sends 1000000000 --daily-budget 100000000}"
script=send.lua
if [ "${OTPGATE_BENCH_API:-}" = messages ]; then script=message.lua; fi
echo "# load: scripts/wrk/$script"
off=(--abuse-guard=off)

echo "# guard on: ${on[*]}"
if [ -z "${OTPGATE_BENCH_SKIP_SQLITE:-}" ]; then
	echo
	echo "== SQLite (embedded), $rounds rounds of guard on / off"
	for r in $(seq "$rounds"); do
		run "sqlite guard on  ($r)" "${on[@]}"
		run "sqlite guard off ($r)" "${off[@]}"
	done
fi

if command -v psql >/dev/null && psql "$admin" -qAtc 'SELECT 1' >/dev/null 2>&1; then
	echo
	echo "== PostgreSQL ($(psql "$admin" -Atc 'SHOW server_version')), $rounds rounds of guard on / off, a fresh database each"
	for r in $(seq "$rounds"); do
		for mode in on off; do
			db="otpgate_bench_guard_$(date +%s)_$$_$mode$r"
			dbs+=("$db")
			psql "$admin" -qc "CREATE DATABASE $db"
			if [ $mode = on ]; then flags=("${on[@]}"); else flags=("${off[@]}"); fi
			run "postgres guard $mode$([ $mode = on ] && echo ' ')  ($r)" --db "${admin%/*}/$db" "${flags[@]}"
			psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
		done
	done
fi

echo
echo "== summary: sends/s with the guard on, as a share of off (the mean of each store's rounds)"
awk '{split($0, a, "sends/s"); n=split(a[1], f, " "); rate=f[n]; store=$1; mode=$3; sum[store" "mode]+=rate; cnt[store" "mode]++}
	END {for (s in cnt) if (s ~ / on$/) {st=substr(s, 1, length(s)-3); on=sum[s]/cnt[s]; off=sum[st" off"]/cnt[st" off"];
		printf "%-9s on %6.0f  off %6.0f  on/off %.2f (overhead %.0f%%)\n", st, on, off, on/off, 100*(1-on/off)}}' "$work/results.txt"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "the servers' warnings and errors, besides the guard-off warning:"
grep -hE 'level=(WARN|ERROR)' "$work"/*.log | grep -v 'abuse guard is OFF' | sed -E 's/^time=[^ ]+ //' | sort | uniq -c | sort -rn | head || true
