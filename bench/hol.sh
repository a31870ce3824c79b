#!/usr/bin/env bash
# hol.sh - head-of-line blocking: does mail to a slow destination hold up
# mail to a healthy one?
#
#   smtp-source --> ferryd --(route slow.test smtp:127.0.0.2:P1)--> smtp-sink -w 30
#                          --(route fast.test smtp:127.0.0.3:P2)--> smtp-sink
#
# Alone: MSGS messages to b@fast.test; time from smtp-source's start until
# the healthy sink has counted them all. Behind slow: first SLOW_MSGS
# messages to b@slow.test (whose sink answers DATA after SLOW_DELAY s) are
# accepted, then the same MSGS to b@fast.test, timed the same way. Each run
# starts ferryd and both sinks afresh; after "behind slow" ferryd is stopped
# with the slow mail still queued. No wait lasts longer than TIMEOUT.
# Last line, the medians over REPEATS runs (default 1: a run takes minutes):
#   alone: X s, behind slow: Y s, ratio: R
# Tunables (environment): MSGS SLOW_MSGS SLOW_DELAY SESS SIZE REPEATS
# TIMEOUT KEEP BASE FERRYD FERRY_*; see bench/README.md.
set -u -o pipefail
BENCH_NAME=hol
MSGS=${MSGS:-2000}
SLOW_MSGS=${SLOW_MSGS:-200}
SLOW_DELAY=${SLOW_DELAY:-30}
REPEATS=${REPEATS:-1}
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init

# hol_run RUN KIND: KIND alone or slow; seconds until the healthy mail has
# all arrived to RESULT
hol_run() {
	local dir=$BASE/$2.$1 port slow fast t0 t1
	free_port; slow=$PORT
	free_port; fast=$PORT
	free_port; port=$PORT
	mkdir -p "$dir"
	sink_start "$slow" "$dir/slow.log" 127.0.0.2 -w "$SLOW_DELAY"
	sink_start "$fast" "$dir/fast.log" 127.0.0.3
	FERRY_ROUTES="route slow.test smtp:127.0.0.2:$slow
route fast.test smtp:127.0.0.3:$fast"
	ferry_start relay "$dir" "$port"
	if [ "$2" = slow ]; then
		run_source "$port" "$dir/source-slow.log" b@slow.test "$SLOW_MSGS" ||
			{ cat "$dir/source-slow.log" >&2; die "run $1: smtp-source (slow) against ferryd failed"; }
	fi
	t0=$(now)
	run_source "$port" "$dir/source.log" b@fast.test ||
		{ cat "$dir/source.log" >&2; die "run $1: smtp-source against ferryd failed"; }
	wait_drained "$dir/fast.log" "$2" echo 0
	t1=$T_END
	check_sink "$dir/fast.log" "$2"
	log "run $1: $2: healthy mail in $(secs "$t0" "$t1") s; slow sink has $(sink_count "$dir/slow.log")," \
		"ferryd's queue $(ferry_queue_count "$dir") message(s)"
	# the sinks first: deliveries still waiting on the slow one fail at once
	sink_stop
	ferry_stop
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(secs "$t0" "$t1")
}

log "hol: ferryd ($FERRYD), $MSGS msgs to a healthy smtp-sink, alone and behind $SLOW_MSGS to smtp-sink -w $SLOW_DELAY"
log "hol: $SIZE bytes, $SESS smtp-source sessions, $REPEATS run(s), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
log "hol: ferryd: delivery_threads $FERRY_DELIVERY_THREADS, destination_concurrency $FERRY_DEST_CONC," \
	"destination_msgs_per_conn $FERRY_MSGS_PER_CONN, workers $FERRY_WORKERS${FERRY_CONF_EXTRA:+, $FERRY_CONF_EXTRA}"

RESULT=
T_END=
ALONE=()
BEHIND=()
for r in $(seq 1 "$REPEATS"); do
	hol_run "$r" alone
	a=$RESULT
	hol_run "$r" slow
	b=$RESULT
	ALONE+=("$a")
	BEHIND+=("$b")
	echo "run $r: alone: $a s, behind slow: $b s"
done

A=$(printf '%s\n' "${ALONE[@]}" | median)
B=$(printf '%s\n' "${BEHIND[@]}" | median)
echo "alone: $(printf '%.2f' "$A") s, behind slow: $(printf '%.2f' "$B") s," \
	"ratio: $(awk -v a="$A" -v b="$B" 'BEGIN { printf "%.1f", b / a }')"
