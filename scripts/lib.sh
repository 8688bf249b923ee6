# Shell helpers the benchmark scripts share (sourced, not run).

# stop PID: stops one background server of ours.
stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
# wait_for FILE PATTERN: waits up to 10s for PATTERN in FILE.
wait_for() {
	for _ in $(seq 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "$(basename "$0"): timed out waiting for '$2' in $1:" >&2
	cat "$1" >&2
	exit 1
}
# free_port: prints a loopback port nothing listens on (for a moment).
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
