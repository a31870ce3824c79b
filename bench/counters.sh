#!/usr/bin/env bash
# counters.sh - what shared counters cost per message: the six-window take a
# tenant's message makes at the end of DATA (bench_counters_take), against
# the local backend (memory under a mutex, a state database written every
# second) and against Redis (one EVALSHA round trip to a redis-server this
# script starts on a free loopback port in its own directory), from 1 and
# from THREADS threads; the median of REPEATS runs of each, and the ratio.
# Then (SMTP=1, the default) the same per message seen from outside: the
# accept rate of tenant mail (bench/tenant.sh's "as a tenant" run: smtp-source
# as the tenant's connector, SMTP_MSGS messages) with local counters and with
# `counters redis://` on that server, and the ratio.
# Usage: bash bench/counters.sh   (TAKES per thread, THREADS, REPEATS, SMTP, SMTP_MSGS)
# Needs: build/release/bench_counters_take (make build), /usr/bin/redis-server;
# for SMTP=1 what bench/tenant.sh needs (root, postfix's smtp-source).
set -u -o pipefail
BENCH_NAME=counters
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TAKES=${TAKES:-20000}
THREADS=${THREADS:-4}
TAKE=${TAKE:-$(dirname "$FERRYD")/bench_counters_take}
SMTP=${SMTP:-1}
SMTP_MSGS=${SMTP_MSGS:-5000}
REDIS_PID=

[ -x "$TAKE" ] || die "no $TAKE: run 'make build' first"
[ -x /usr/bin/redis-server ] || die "no /usr/bin/redis-server (scripts/setup.sh installs it)"
case "$BASE" in /*) ;; *) die "BASE must be an absolute path" ;; esac
[ -e "$BASE" ] && die "$BASE exists; remove it (or set BASE) first"
mkdir -p "$BASE" || die "cannot create $BASE"
# shellcheck disable=SC2317 # invoked through trap
counters_teardown() {
	local rc=$?
	trap - EXIT INT TERM
	stop_pid "$REDIS_PID" redis-server
	if [ "$KEEP" = 1 ]; then log "$BENCH_NAME: kept $BASE"; else rm -rf "$BASE"; fi
	exit "$rc"
}
trap counters_teardown EXIT
trap 'exit 130' INT TERM

free_port
RPORT=$PORT
/usr/bin/redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$BASE" \
	>"$BASE/redis.log" 2>&1 &
REDIS_PID=$!
wait_listen "$RPORT" "$REDIS_PID" redis-server "$BASE/redis.log"

# one_run BACKEND THREADS: takes/s of one run
one_run() {
	local out
	out=$("$TAKE" "$1" "$2" "$TAKES") || die "bench_counters_take $1 $2 failed"
	log "  $out"
	sed -n 's/.*takes\/s=\([0-9]*\).*/\1/p' <<<"$out"
}

for t in 1 "$THREADS"; do
	local_rates=()
	redis_rates=()
	for r in $(seq 1 "$REPEATS"); do
		rm -f "$BASE/state.db"*
		local_rates+=("$(one_run "local:$BASE/state.db" "$t")")
		redis_rates+=("$(one_run "redis://127.0.0.1:$RPORT/$r" "$t")")
	done
	l=$(printf '%s\n' "${local_rates[@]}" | median)
	x=$(printf '%s\n' "${redis_rates[@]}" | median)
	printf 'threads %s: local: %.0f takes/s, redis: %.0f takes/s, ratio: %.3f (redis / local), redis us/take: %.1f\n' \
		"$t" "$l" "$x" "$(awk -v a="$x" -v b="$l" 'BEGIN { print a / b }')" \
		"$(awk -v x="$x" -v t="$t" 'BEGIN { print 1e6 * t / x }')"
done

[ "$SMTP" = 1 ] || exit 0
# smtp_rate MODE: tenant.sh's "as a tenant" median with local or Redis counters
smtp_rate() {
	local extra= out
	[ "$1" = redis ] && extra="counters redis://127.0.0.1:$RPORT/9"
	out=$(FERRY_CONF_EXTRA="$extra" MSGS="$SMTP_MSGS" BASE="$BASE/tenant.$1" \
		bash "$BENCH_DIR/tenant.sh" 2>"$BASE/tenant.$1.log") ||
		{ cat "$BASE/tenant.$1.log" >&2; die "tenant.sh with $1 counters failed"; }
	log "  $1 counters: $(tail -1 <<<"$out")"
	tail -1 <<<"$out" | sed -n 's/.*as a tenant: \([0-9.]*\) msg\/s.*/\1/p'
}
l=$(smtp_rate local)
x=$(smtp_rate redis)
[ -n "$l" ] && [ -n "$x" ] || die "no rate in tenant.sh's output"
printf 'smtp as a tenant: local: %s msg/s, redis: %s msg/s, ratio: %.3f (redis / local)\n' \
	"$l" "$x" "$(awk -v a="$x" -v b="$l" 'BEGIN { print a / b }')"
