#!/usr/bin/env bash
# Measures otpgate on PostgreSQL against its anchor, in one run, for
# BENCHMARKS.md:
#   1. pgbench -N (simple updates, one transaction per request) with the
#      same number of connections, on a scratch database: the database's own
#      ceiling for one-transaction-per-request work;
#   2. one otpgate node on the embedded SQLite, under wrk (send, then verify);
#   3. one node on PostgreSQL, the same; then one node on a fresh database
#      bound to `otpgate smsc-sim` (--smpp, receipts after 100 ms) under wrk's
#      send: accepted/s, and how many of them the database holds as
#      delivered a second after the load;
#   4. two nodes on PostgreSQL (both on this machine's cores, with the
#      database and wrk), each under its own wrk with half the connections.
# Every node runs with --abuse-guard=off (bench traffic looks like SMS
# pumping); scripts/bench-guard.sh measures the guard's cost.
# Needs Go, wrk, pgbench and a PostgreSQL whose URL is $OTPGATE_BENCH_PG
# (default postgres://postgres@127.0.0.1:5432/postgres; a scratch database
# is made there and dropped).
#   scripts/bench-pg.sh [connections] [duration]      (default 64 10s)
set -euo pipefail
cd "$(dirname "$0")/.."
conc=${1:-64}
dur=${2:-10s}
threads=2
admin=${OTPGATE_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
for c in wrk pgbench psql; do command -v $c >/dev/null || { echo "bench-pg.sh: $c not found" >&2; exit 1; }; done
work=$(mktemp -d)
db="otpgate_bench_$(date +%s)_$$"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	psql "$admin" -qc "DROP DATABASE IF EXISTS ${db}_pgbench WITH (FORCE)" >/dev/null 2>&1 || true
	psql "$admin" -qc "DROP DATABASE IF EXISTS ${db}_smpp WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
go build -o "$work/otpgate" ./cmd/otpgate
. scripts/lib.sh # stop, wait_for, free_port
otpgate="$work/otpgate"
url_of() { # the admin URL with another database
	echo "${admin%/*}/$1"
}

echo "# otpgate scripts/bench-pg.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "# $(nproc) cores, $(psql "$admin" -Atc 'SHOW server_version'), $(go version | awk '{print $3}'); $conc connections, $dur per phase; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== 1. anchor: pgbench -N (simple updates), $conc connections, $dur"
psql "$admin" -qc "CREATE DATABASE ${db}_pgbench"
pgbench -q -i -s 10 "$(url_of ${db}_pgbench)" >/dev/null 2>&1
pgbench -N -c "$conc" -j "$threads" -T "${dur%s}" "$(url_of ${db}_pgbench)" 2>&1 | grep -E 'tps|latency average' | tee "$work/pgbench.txt"

# start NAME ADDRFILE [flags]: one otpgate serve on a free port; sets pid, url.
start() {
	local name=$1
	shift
	"$otpgate" serve --addr 127.0.0.1:0 --data-dir "$work/data-$name" "$@" >"$work/$name.out" 2>"$work/$name.log" &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 150); do grep -q "otpgate listening" "$work/$name.log" 2>/dev/null && break; sleep 0.1; done
	url=http://$(grep -o 'msg="otpgate listening" addr=[0-9.:]*' "$work/$name.log" | sed 's/.*addr=//')
}
account() { # sets basic from the first node's output
	for _ in $(seq 50); do grep -q "Auth token" "$work/$1.out" && break; sleep 0.1; done
	basic=$(printf '%s:%s' "$(awk '/Account SID/ {print $3}' "$work/$1.out")" "$(awk '/Auth token:/ {print $3}' "$work/data-$1/first-account.txt")" | base64 | tr -d '\n')
}
# phases TAG URL BASE CONNS: wrk send then verify against one node.
phases() {
	local tag=$1 u=$2 base=$3 c=$4
	BENCH_BASIC=$basic BENCH_BASE=$base BENCH_THREADS=$threads BENCH_CONNS=$c BENCH_STATE="$work/sent-$tag" \
		wrk -t$threads -c"$c" -d"$dur" --latency -s scripts/wrk/send.lua "$u" >"$work/send-$tag.txt"
	BENCH_BASIC=$basic BENCH_BASE=$base BENCH_THREADS=$threads BENCH_SENT="$(cat "$work/sent-$tag")" \
		wrk -t$threads -c"$c" -d"$dur" --latency -s scripts/wrk/verify.lua "$u" >"$work/verify-$tag.txt"
}
summary() { # FILE: req/s p50 p99
	awk '/^Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {e=$5} END {printf "%8.0f req/s  p50 %-9s p99 %-9s non-2xx %s\n", r, p50, p99, (e == "" ? 0 : e)}' "$1"
}

echo
echo "== 2. one node, embedded SQLite"
start sqlite --abuse-guard=off
account sqlite
phases sqlite "$url" 0 "$conc"
echo "send:   $(summary "$work/send-sqlite.txt")"
echo "verify: $(summary "$work/verify-sqlite.txt")"
kill "$pid"; wait "$pid" 2>/dev/null || true

echo
echo "== 3. one node, PostgreSQL"
psql "$admin" -qc "CREATE DATABASE $db"
start pg1 --abuse-guard=off --db "$(url_of $db)"
account pg1
phases pg1 "$url" 0 "$conc"
echo "send:   $(summary "$work/send-pg1.txt")"
echo "verify: $(summary "$work/verify-pg1.txt")"
url1=$url

echo "-- bound to otpgate smsc-sim (--smpp, receipts after 100ms), a fresh database, wrk's send"
psql "$admin" -qc "CREATE DATABASE ${db}_smpp"
sim_port=$(free_port)
"$otpgate" smsc-sim --addr 127.0.0.1:$sim_port --http "" --print-messages=false >"$work/sim.log" 2>&1 &
pids+=("$!")
start smpp --abuse-guard=off --db "$(url_of ${db}_smpp)" --smpp "smpp://otpgate:secret@127.0.0.1:$sim_port?name=sim"
smpp_pid=$pid
wait_for "$work/smpp.log" "smpp bound"
basic1=$basic
account smpp
BENCH_BASIC=$basic BENCH_BASE=7000000 BENCH_THREADS=$threads BENCH_CONNS=$conc \
	wrk -t$threads -c"$conc" -d"$dur" --latency -s scripts/wrk/send.lua "$url" >"$work/send-smpp.txt"
sleep 1
delivered=$(psql "$(url_of ${db}_smpp)" -Atc "SELECT count(*) FILTER (WHERE status = 'delivered') || ' of ' || count(*) FROM messages")
echo "smpp:   $(summary "$work/send-smpp.txt"); delivered a second after the load: $delivered"
stop "$smpp_pid"
basic=$basic1
psql "$admin" -qc "DROP DATABASE ${db}_smpp WITH (FORCE)"

echo
echo "== 4. two nodes, PostgreSQL (the same database; both nodes, the database and wrk share the $(nproc) cores)"
start pg2 --abuse-guard=off --db "$(url_of $db)" --secret-file "$work/data-pg1/secret"
url2=$url
half=$((conc / 2))
phases a "$url1" 2000000 "$half" &
pa=$!
phases b "$url2" 5000000 "$half" &
pb=$!
wait $pa $pb
for p in send verify; do
	a=$(awk '/^Requests\/sec/ {print $2}' "$work/$p-a.txt")
	b=$(awk '/^Requests\/sec/ {print $2}' "$work/$p-b.txt")
	printf "%-7s node 1: %s  node 2: %s  together: %.0f req/s\n" "$p:" "$(summary "$work/$p-a.txt")" "$(summary "$work/$p-b.txt")" "$(echo "$a + $b" | bc)"
done

echo
echo "== summary"
echo "pgbench -N: $(awk '/^tps/ {print $3}' "$work/pgbench.txt") tps"
echo "1 node SQLite: send $(awk '/^Requests\/sec/ {print $2}' "$work/send-sqlite.txt"), verify $(awk '/^Requests\/sec/ {print $2}' "$work/verify-sqlite.txt")"
echo "1 node PostgreSQL: send $(awk '/^Requests\/sec/ {print $2}' "$work/send-pg1.txt"), verify $(awk '/^Requests\/sec/ {print $2}' "$work/verify-pg1.txt"), send bound to an SMSC $(awk '/^Requests\/sec/ {print $2}' "$work/send-smpp.txt")"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "the nodes' warnings and errors (none expected):"
grep -hE 'level=(WARN|ERROR)' "$work"/*.log | sed -E 's/^time=[^ ]+ //; s/ request_id=[^ ]+//' | sort | uniq -c | sort -rn | head -20 || true
