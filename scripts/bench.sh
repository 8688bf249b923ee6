#!/usr/bin/env bash
# Measures otpgate against the no-op ceiling with the same load generator, in
# one run, on this machine: BENCHMARKS.md records its output.
#   scripts/bench.sh [concurrency] [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
conc=${1:-64}
dur=${2:-10s}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/otpgate" ./cmd/otpgate

echo "== ceiling: otpgate noop-server (no-op Go HTTP handler), concurrency $conc, $dur per phase"
"$work/otpgate" noop-server --addr 127.0.0.1:18190 >/dev/null &
sleep 0.5
"$work/otpgate" bench --url http://127.0.0.1:18190 --sid AC0 --token t --concurrency "$conc" --duration "$dur"
kill %1; wait %1 2>/dev/null || true

echo "== otpgate serve (embedded SQLite, sandbox delivery, default flags), concurrency $conc, $dur per phase"
"$work/otpgate" serve --addr 127.0.0.1:18180 --data-dir "$work/data" >"$work/serve.out" 2>"$work/serve.log" &
for _ in $(seq 100); do grep -q "Auth token" "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
sid=$(awk '/Account SID/ {print $3}' "$work/serve.out")
token=$(awk '/Auth token/ {print $3}' "$work/serve.out")
"$work/otpgate" bench --url http://127.0.0.1:18180 --sid "$sid" --token "$token" --concurrency "$conc" --duration "$dur"
