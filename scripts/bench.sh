#!/usr/bin/env bash
# Measures otpgate on this machine, in one run, for BENCHMARKS.md:
#   0. the disk: an fsync, and a send's commit, one at a time (the floor of
#      a request's latency);
#   1. the ceiling: wrk against `otpgate noop-server`, and bench's own
#      generator against it in turns (the generator's share of wrk's rate);
#   2. `otpgate serve` (fresh data dir, sandbox delivery) loaded by wrk
#      (send, then verify), and by `otpgate bench` (send, then verify);
#   3. `otpgate serve --smpp` bound to bench's embedded SMSC: bench at the
#      full concurrency (accepted, handed to the SMSC, delivered per second,
#      the backlog), then one request at a time (request -> submit_sm), each
#      with the server's own breakdown of a send's stages; then under wrk,
#      bound to `otpgate smsc-sim`;
#   4. the baseline: Kannel (Debian's bearerbox and smsbox, in memory)
#      bound to the same SMSCs and loaded the same ways: wrk, then bench at
#      the full concurrency and one at a time, with delivery receipts asked
#      for (as otpgate asks) and without.
# Every server runs with --abuse-guard=off: bench traffic (codes to
# sequential numbers, never checked) is what the SMS-pumping guard blocks.
# scripts/bench-guard.sh measures the guard's cost.
# Needs Go and wrk (Debian/Ubuntu: apt-get install wrk); Kannel for phase 4
# (apt-get install kannel; without it phase 4 is skipped).
#   scripts/bench.sh [concurrency] [duration]      (default 64 10s)
set -euo pipefail
cd "$(dirname "$0")/.."
conc=${1:-64}
dur=${2:-10s}
threads=2 # wrk's
rounds=2  # wrk and bench's generator take turns against noop-server

command -v wrk >/dev/null || { echo "bench.sh: wrk not found (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
go build -o "$work/otpgate" ./cmd/otpgate
otpgate="$work/otpgate"

. scripts/lib.sh # stop, wait_for, free_port
# serve NAME [flags]: starts `otpgate serve` on a free port with a fresh
# data dir; sets serve_pid, url, sid, token and basic (base64 of sid:token).
serve() {
	local name=$1
	shift
	"$otpgate" serve --addr 127.0.0.1:0 --data-dir "$work/data-$name" --log-format text --log-level info "$@" \
		>"$work/$name.out" 2>"$work/$name.log" &
	serve_pid=$!
	pids+=("$serve_pid")
	wait_for "$work/$name.out" "Auth token"
	wait_for "$work/$name.log" "otpgate listening"
	url=http://$(grep -o 'msg="otpgate listening" addr=[0-9.:]*' "$work/$name.log" | sed 's/.*addr=//')
	sid=$(awk '/Account SID/ {print $3}' "$work/$name.out")
	token=$(awk '/Auth token:/ {print $3}' "$work/data-$name/first-account.txt") # not a terminal: the token is in the file
	basic=$(printf '%s:%s' "$sid" "$token" | base64 | tr -d '\n')
}
# bench [flags]: otpgate bench, the token from the environment (not argv).
bench() {
	OTPGATE_TOKEN=$token "$otpgate" bench --sid "$sid" --concurrency "$conc" --duration "$dur" "$@"
}
# rps_wrk FILE, rps_bench FILE: requests/s from their output.
rps_wrk() { awk '/^Requests\/sec/ {print $2}' "$1"; }
rps_bench() { awk -v p="${2:-send}" '$1 == p {print $3}' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

echo "# otpgate scripts/bench.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "# $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || uname -m)), $(go version | awk '{print $3}'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
echo "# concurrency $conc, $dur per phase; wrk: $threads threads; load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

echo
echo "== 0. the disk's floor for a durable request: an fsync of 4 KiB, and a send's SQLite commit, one at a time"
go test -run '^$' -bench 'BenchmarkFsync|BenchmarkCommitLatency' -benchtime 2000x ./internal/sqlite/ | tee "$work/disk.txt" | grep '^Benchmark'

echo
echo "== 1. ceiling: otpgate noop-server (a no-op Go HTTP handler), $conc connections, $dur"
"$otpgate" noop-server --addr 127.0.0.1:0 >"$work/noop.out" 2>&1 &
noop_pid=$!
pids+=("$noop_pid")
wait_for "$work/noop.out" "listening"
noop_url=http://$(awk '/noop-server listening on/ {print $4}' "$work/noop.out")
token=t sid=AC0
ceiling_lines=()
for round in $(seq $rounds); do
	echo "-- round $round: wrk (fixed POST /2fa/send, scripts/wrk/noop.lua)"
	wrk -t$threads -c"$conc" -d"$dur" --latency -s scripts/wrk/noop.lua "$noop_url" | tee "$work/wrk-noop-$round.txt"
	echo "-- round $round: otpgate bench (its generator: POST /2fa/send to fresh numbers)"
	bench --url "$noop_url" --phases send | tee "$work/bench-noop-$round.txt"
	w=$(rps_wrk "$work/wrk-noop-$round.txt")
	b=$(rps_bench "$work/bench-noop-$round.txt")
	ceiling_lines+=("round $round: wrk $w req/s, bench's generator $b req/s: $(ratio "$b" "$w") of wrk")
done
stop "$noop_pid"

echo
echo "== 2a. otpgate serve (embedded SQLite, sandbox delivery, fresh data dir) under wrk, $conc connections, $dur per phase"
serve wrk --abuse-guard=off
base=$((RANDOM * 300 % 10000000))
echo "-- send: POST /2fa/send to fresh numbers 079xxxxxxx (scripts/wrk/send.lua)"
BENCH_BASIC=$basic BENCH_BASE=$base BENCH_THREADS=$threads BENCH_CONNS=$conc BENCH_STATE="$work/sent" \
	wrk -t$threads -c"$conc" -d"$dur" --latency -s scripts/wrk/send.lua "$url" | tee "$work/wrk-send.txt"
echo "-- verify: POST /2fa/verify, wrong codes for the numbers sent to (scripts/wrk/verify.lua)"
sent=$(cat "$work/sent" 2>/dev/null || echo 0)
if [ "$sent" -gt 1 ]; then
	BENCH_BASIC=$basic BENCH_BASE=$base BENCH_THREADS=$threads BENCH_SENT=$sent \
		wrk -t$threads -c"$conc" -d"$dur" --latency -s scripts/wrk/verify.lua "$url" | tee "$work/wrk-verify.txt"
else
	echo "skipped: the send phase sent to no numbers" | tee "$work/wrk-verify.txt"
fi
stop "$serve_pid"

echo
echo "== 2b. otpgate serve (the same, fresh data dir) under otpgate bench, $conc connections, $dur per phase"
serve bench --abuse-guard=off
bench --url "$url" --phases send,verify | tee "$work/bench-serve.txt"
stop "$serve_pid"

echo
echo "== 3. otpgate serve --smpp bound to bench's embedded SMSC (smscsim, receipts after 100ms), fresh data dir"
smsc_port=$(free_port)
mtoken=bench-metrics-token-$RANDOM$RANDOM
serve smpp --abuse-guard=off --metrics-token "$mtoken" --smpp "smpp://otpgate:secret@127.0.0.1:$smsc_port?name=sim"
echo "-- $conc connections, $dur"
bench --url "$url" --phases send --smsc-listen 127.0.0.1:$smsc_port --metrics-token "$mtoken" 2>&1 | tee "$work/bench-smpp.txt"
echo "-- one request at a time (--concurrency 1), $dur"
conc=1 bench --url "$url" --phases send --smsc-listen 127.0.0.1:$smsc_port --metrics-token "$mtoken" 2>&1 | tee "$work/bench-smpp-1.txt"
stop "$serve_pid"
echo "-- under wrk, $conc connections, $dur: bound to otpgate smsc-sim (receipts after 100ms)"
sim_port=$(free_port)
"$otpgate" smsc-sim --addr 127.0.0.1:$sim_port --http "" --print-messages=false >"$work/sim.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
serve smpp-wrk --abuse-guard=off --smpp "smpp://otpgate:secret@127.0.0.1:$sim_port?name=sim"
wait_for "$work/smpp-wrk.log" "smpp bound"
BENCH_BASIC=$basic BENCH_BASE=$((RANDOM * 300 % 10000000)) BENCH_THREADS=$threads BENCH_CONNS=$conc \
	wrk -t$threads -c"$conc" -d"$dur" --latency -s scripts/wrk/send.lua "$url" | tee "$work/wrk-smpp.txt"
stop "$serve_pid"

echo
if command -v bearerbox >/dev/null && command -v smsbox >/dev/null; then
	echo "== 4. the baseline: Kannel ($(bearerbox --version 2>&1 | grep -o 'Kannel bearerbox version `[^'"'"']*' | sed 's/.*`//' | head -1 || echo '?')), bearerbox + smsbox, in memory, bound to the same SMSCs"
	# kannel SMSC_PORT NAME: starts bearerbox and smsbox bound to an SMSC on
	# SMSC_PORT; sets kannel_url. Kannel retries a failed connect every 10s.
	kannel() {
		local admin sb http dir=$work/kannel-$2
		admin=$(free_port) sb=$(free_port) http=$(free_port)
		mkdir -p "$dir"
		cat >"$dir/kannel.conf" <<-EOF
			group = core
			admin-port = $admin
			admin-password = bench
			smsbox-port = $sb
			log-level = 3
			log-file = "$dir/bearerbox.log"
			box-allow-ip = "127.0.0.1"
			$dlr_storage

			group = smsc
			smsc = smpp
			smsc-id = sim
			host = 127.0.0.1
			port = $1
			transceiver-mode = true
			smsc-username = otpgate
			smsc-password = secret
			system-type = ""
			source-addr-ton = 5
			source-addr-npi = 0
			dest-addr-ton = 1
			dest-addr-npi = 1
			max-pending-submits = 50

			group = smsbox
			bearerbox-host = 127.0.0.1
			sendsms-port = $http
			log-level = 3
			log-file = "$dir/smsbox.log"

			group = sendsms-user
			username = bench
			password = benchpass
			max-messages = 3
			concatenation = true
		EOF
		bearerbox "$dir/kannel.conf" >"$dir/bearerbox.out" 2>&1 &
		pids+=($!)
		kannel_pids=($!)
		sleep 1
		smsbox "$dir/kannel.conf" >"$dir/smsbox.out" 2>&1 &
		pids+=($!)
		kannel_pids+=($!)
		for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$http") 2>/dev/null && break; sleep 0.1; done
		kannel_url=http://127.0.0.1:$http
	}
	stop_kannel() { for p in "${kannel_pids[@]}"; do stop "$p"; done; }
	# Kannel keeps what it needs to match receipts in Redis when one answers
	# on 127.0.0.1:6379 (its internal store is a list, searched from end to
	# end for each receipt), else in memory.
	if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
		dlr_note="receipts matched in Redis"
		dlr_storage="dlr-storage = redis

group = redis-connection
id = dlr
host = 127.0.0.1
port = 6379
database = 9

group = dlr-db
id = dlr
table = otpgate-bench-dlr-$$
ttl = 3600
field-smsc = smsc
field-timestamp = ts
field-source = source
field-destination = destination
field-service = service
field-url = url
field-mask = mask
field-status = status
field-boxc-id = boxc"
	else
		dlr_note="receipts matched in Kannel's memory"
		dlr_storage="dlr-storage = internal"
	fi
	kbench() { OTPGATE_TOKEN=benchpass "$otpgate" bench --target kannel --sid bench --concurrency "$conc" --duration "$dur" "$@"; }

	"$otpgate" noop-server --addr 127.0.0.1:0 >"$work/dlr.out" 2>&1 &
	pids+=($!)
	wait_for "$work/dlr.out" "listening"
	dlr_url="http://$(awk '/noop-server listening on/ {print $4}' "$work/dlr.out")/dlr?status=%d"
	echo "-- under wrk, $conc connections, $dur: bound to otpgate smsc-sim, receipts asked for ($dlr_note; scripts/wrk/kannel.lua)"
	kannel "$sim_port" wrk
	for _ in $(seq 150); do grep -q "online" <(curl -s "http://127.0.0.1:$(awk '/admin-port/ {print $3}' "$work/kannel-wrk/kannel.conf")/status?password=bench") && break; sleep 0.1; done
	KANNEL_USER=bench KANNEL_PASS=benchpass KANNEL_DLR_URL=$dlr_url BENCH_BASE=$((RANDOM * 300 % 10000000)) BENCH_THREADS=$threads \
		wrk -t$threads -c"$conc" -d"$dur" --latency -s scripts/wrk/kannel.lua "$kannel_url" | tee "$work/wrk-kannel.txt"
	stop_kannel
	stop "$sim_pid"

	ksmsc=$(free_port)
	kannel "$ksmsc" bench
	echo "-- bench, $conc connections, $dur, receipts asked for (dlr-mask 3, each to a no-op HTTP server; $dlr_note)"
	kbench --url "$kannel_url" --phases send --smsc-listen 127.0.0.1:$ksmsc --kannel-dlr-url "$dlr_url" 2>&1 | tee "$work/kannel-smpp.txt"
	echo "-- one request at a time, $dur, receipts asked for"
	conc=1 kbench --url "$kannel_url" --phases send --smsc-listen 127.0.0.1:$ksmsc --kannel-dlr-url "$dlr_url" 2>&1 | tee "$work/kannel-smpp-1.txt"
	echo "-- one request at a time, $dur, no receipts"
	conc=1 kbench --url "$kannel_url" --phases send --smsc-listen 127.0.0.1:$ksmsc 2>&1 | tee "$work/kannel-smpp-1-nodlr.txt"
	stop_kannel
else
	echo "== 4. the baseline, Kannel: skipped (no bearerbox/smsbox; apt-get install kannel)"
	stop "$sim_pid"
fi

echo
echo "== summary (requests/s)"
for l in "${ceiling_lines[@]}"; do echo "ceiling, noop-server: $l"; done
echo "serve (sandbox) under wrk:   send $(rps_wrk "$work/wrk-send.txt"), verify $(rps_wrk "$work/wrk-verify.txt")" \
	"(non-2xx: send $(awk '/Non-2xx/ {print $5}' "$work/wrk-send.txt" | grep . || echo 0), verify $(awk '/Non-2xx/ {print $5}' "$work/wrk-verify.txt" | grep . || echo 0))"
echo "serve (sandbox) under bench: send $(rps_bench "$work/bench-serve.txt" send), verify $(rps_bench "$work/bench-serve.txt" verify)"
echo "serve --smpp, $conc connections: $(grep '^send window' "$work/bench-smpp.txt")"
echo "   $(grep '^request -> submit_sm' "$work/bench-smpp.txt")"
echo "   $(grep '^drain' "$work/bench-smpp.txt")"
echo "serve --smpp, one at a time: $(grep '^request -> submit_sm' "$work/bench-smpp-1.txt")"
echo "serve --smpp under wrk:       $(rps_wrk "$work/wrk-smpp.txt") accepted/s (non-2xx: $(awk '/Non-2xx/ {print $5}' "$work/wrk-smpp.txt" | grep . || echo 0))"
if [ -f "$work/kannel-smpp.txt" ]; then
	echo "Kannel under wrk, receipts:   $(rps_wrk "$work/wrk-kannel.txt") accepted/s (non-2xx: $(awk '/Non-2xx/ {print $5}' "$work/wrk-kannel.txt" | grep . || echo 0))"
	echo "Kannel, $conc connections, receipts: $(grep '^send window' "$work/kannel-smpp.txt")"
	echo "   $(grep '^request -> submit_sm' "$work/kannel-smpp.txt")"
	echo "Kannel, one at a time, receipts:    $(grep '^request -> submit_sm' "$work/kannel-smpp-1.txt")"
	echo "Kannel, one at a time, no receipts: $(grep '^request -> submit_sm' "$work/kannel-smpp-1-nodlr.txt")"
fi
echo "   the disk, one at a time: $(awk '/^BenchmarkFsync/ {print "fsync p50", $5, "ms, p99", $7, "ms;"} /^BenchmarkCommitLatency/ {print "a send'"'"'s commit p50", $5, "ms, p99", $7, "ms"}' "$work/disk.txt" | tr '\n' ' ')"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') (other work on the machine skews every figure)"
