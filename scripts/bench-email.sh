#!/usr/bin/env bash
# Measures codes by email on this machine, in one run, for BENCHMARKS.md:
#   1. the ceiling: wrk against `otpgate noop-server`;
#   2. sandbox `otpgate serve` loaded by wrk with /2fa/send by SMS
#      (scripts/wrk/send.lua) and by email (scripts/wrk/email.lua), in
#      alternating rounds;
#   3. end to end through a real SMTP relay: `otpgate serve --smtp` to
#      Debian's aiosmtpd (STARTTLS, its Sink handler) loaded by wrk with
#      email.lua, for each count of relay connections (conns=): codes
#      accepted, at the relay while the load ran, and how long after it the
#      last one reached the relay.
# Every server runs with --abuse-guard=off (fresh addresses, never checked).
# Needs Go, wrk, openssl and python3-aiosmtpd (apt-get install wrk openssl
# python3-aiosmtpd).
#   scripts/bench-email.sh [concurrency] [duration] [rounds] [conns...]
#   (default 64 8s 3 4 16)
set -euo pipefail
cd "$(dirname "$0")/.."
conc=${1:-64}
dur=${2:-8s}
rounds=${3:-3}
shift $(($# < 3 ? $# : 3))
relay_conns=("$@")
[ ${#relay_conns[@]} -gt 0 ] || relay_conns=(4 16)
threads=2

command -v wrk >/dev/null || { echo "bench-email.sh: wrk not found (apt-get install wrk)" >&2; exit 1; }
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || { echo "bench-email.sh: aiosmtpd not found (apt-get install python3-aiosmtpd)" >&2; exit 1; }
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
metrics_token=bench-email-metrics-token

. scripts/lib.sh # stop, wait_for, free_port
# serve NAME [flags]: a fresh sandbox server; sets serve_pid, url and basic.
serve() {
	local name=$1
	shift
	"$otpgate" serve --addr 127.0.0.1:0 --data-dir "$work/data-$name" --abuse-guard=off --log-format text --log-level info \
		--metrics-token "$metrics_token" "$@" >"$work/$name.out" 2>"$work/$name.log" &
	serve_pid=$!
	pids+=("$serve_pid")
	wait_for "$work/$name.log" "otpgate listening"
	url=http://$(grep -o 'msg="otpgate listening" addr=[0-9.:]*' "$work/$name.log" | sed 's/.*addr=//')
	local sid token
	sid=$(awk '/Account SID/ {print $3}' "$work/$name.out")
	token=$(awk '/Auth token:/ {print $3}' "$work/data-$name/first-account.txt")
	basic=$(printf '%s:%s' "$sid" "$token" | base64 -w0)
}
# load SCRIPT: wrk with SCRIPT against $url/2fa/send, fresh destinations.
load() {
	BENCH_BASIC=$basic BENCH_BASE=$((RANDOM * 300 % 10000000)) BENCH_THREADS=$threads BENCH_CONNS=$conc \
		wrk -t$threads -c"$conc" -d"$dur" --latency -s "scripts/wrk/$1" "$url/2fa/send"
}
# emails_sent: the server's count of emails the relay took.
emails_sent() {
	curl -s -H "Authorization: Bearer $metrics_token" "$url/metrics" |
		awk '/^otpgate_dispatch_channel_outcomes_total\{channel="email",outcome="sent"\}/ {n = $2} END {printf "%d\n", n}'
}

echo "# bench-email.sh $conc connections, $dur, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== 1. the ceiling: wrk against otpgate noop-server"
np=$(free_port)
"$otpgate" noop-server --addr "127.0.0.1:$np" >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
BENCH_BASIC=x wrk -t$threads -c"$conc" -d"$dur" -s scripts/wrk/noop.lua "http://127.0.0.1:$np/2fa/send" | grep "Requests/sec"

echo "== 2. sandbox /2fa/send: SMS and email in turns"
serve sandbox
for r in $(seq "$rounds"); do
	echo "-- round $r, SMS (scripts/wrk/send.lua)"
	load send.lua | grep -E "Requests/sec|Non-2xx| 50%| 99%"
	echo "-- round $r, email (scripts/wrk/email.lua)"
	load email.lua | grep -E "Requests/sec|Non-2xx| 50%| 99%"
done
stop "$serve_pid"

echo "== 3. through an SMTP relay (aiosmtpd, STARTTLS)"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/relay.key" -out "$work/relay.pem" -days 1 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
for n in "${relay_conns[@]}"; do
	rp=$(free_port)
	/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$rp" -c aiosmtpd.handlers.Sink \
		--tlscert "$work/relay.pem" --tlskey "$work/relay.key" >"$work/relay-$n.log" 2>&1 &
	relay_pid=$!
	pids+=("$relay_pid")
	sleep 1
	serve "relay-$n" --smtp "smtp://127.0.0.1:$rp?ca=$work/relay.pem&conns=$n" --smtp-from codes@otpgate.example
	echo "-- conns=$n"
	load email.lua >"$work/wrk-$n.txt"
	ended=$(date +%s.%N)
	at_end=$(emails_sent)
	total=$(awk '/requests in/ {print $1}' "$work/wrk-$n.txt")
	refused=$(awk '/Non-2xx/ {print $NF}' "$work/wrk-$n.txt")
	accepted=$((total - ${refused:-0}))
	grep -E "Requests/sec| 50%| 99%" "$work/wrk-$n.txt"
	while [ "$(emails_sent)" -lt "$accepted" ]; do
		if [ "$(echo "$(date +%s.%N) - $ended > 120" | bc)" = 1 ]; then
			echo "gave up waiting: $(emails_sent) of $accepted at the relay"
			break
		fi
		sleep 0.1
	done
	drain=$(echo "$(date +%s.%N) - $ended" | bc)
	echo "accepted $accepted (the rest answered 429: the email route's backlog past 5 s); at the relay when the load ended: $at_end ($(echo "scale=0; $at_end / ${dur%s}" | bc)/s); the last one $drain s after"
	stop "$serve_pid"
	stop "$relay_pid"
done
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
