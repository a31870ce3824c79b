#!/usr/bin/env bash
# hol.sh - head-of-line blocking: does mail to a slow destination hold up
# mail to a healthy one? ferryd and Postfix in the same run.
#
#   smtp-source --> ferryd  --(route slow.test smtp:127.0.0.2:P1)-------> smtp-sink -w 30
#                           --(route fast.test smtp:127.0.0.3:P2)-------> smtp-sink
#   smtp-source --> Postfix --(transport slow.test smtp:[127.0.0.2]:P1)--> smtp-sink -w 30
#                           --(transport fast.test smtp:[127.0.0.3]:P2)--> smtp-sink
#
# Alone: MSGS messages to b@fast.test; time from smtp-source's start until
# the healthy sink has counted them all. Behind slow: first SLOW_MSGS
# messages to b@slow.test (whose sink answers DATA after SLOW_DELAY s) are
# accepted, then the same MSGS to b@fast.test, timed the same way. Each run
# starts the relay and both sinks afresh; after "behind slow" the relay is
# stopped with the slow mail still queued. No wait lasts longer than TIMEOUT.
# Each repeat runs ferryd (alone, behind slow), then Postfix (the same).
# Last two lines, the medians over REPEATS runs (default 1: with today's
# engine a run takes minutes):
#   postfix alone: X s, behind slow: Y s, ratio: R
#   alone: X s, behind slow: Y s, ratio: R          (ferryd)
# Tunables (environment): MSGS SLOW_MSGS SLOW_DELAY SESS SIZE REPEATS
# TIMEOUT KEEP BASE FERRYD FERRY_* PF_CONC PF_MAIN_CF_EXTRA; see
# bench/README.md.
set -u -o pipefail
BENCH_NAME=hol
MSGS=${MSGS:-2000}
SLOW_MSGS=${SLOW_MSGS:-200}
SLOW_DELAY=${SLOW_DELAY:-30}
REPEATS=${REPEATS:-1}
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init

# hol_relay_start RELAY DIR PORT SLOW FAST: ferryd or Postfix on PORT, mail
# to slow.test routed to 127.0.0.2:SLOW, to fast.test to 127.0.0.3:FAST (two
# destinations, each with its own concurrency limit)
hol_relay_start() {
	if [ "$1" = ferryd ]; then
		FERRY_ROUTES="route slow.test smtp:127.0.0.2:$4
route fast.test smtp:127.0.0.3:$5"
		ferry_start relay "$2" "$3"
	else
		# transport_maps override relayhost (left at port 0: mail the map
		# missed fails instead of reaching a sink); inline: needs no postmap
		local PF_MAIN_CF_EXTRA="transport_maps = inline:{ slow.test=smtp:[127.0.0.2]:$4, fast.test=smtp:[127.0.0.3]:$5 }${PF_MAIN_CF_EXTRA:+
$PF_MAIN_CF_EXTRA}"
		pf_start relay "$2" "$3"
	fi
}

# hol_run RUN KIND RELAY: KIND alone or slow, RELAY ferryd or postfix;
# seconds until the healthy mail has all arrived to RESULT
hol_run() {
	local dir=$BASE/$3-$2.$1 port slow fast t0 t1 queued
	free_port; slow=$PORT
	free_port; fast=$PORT
	free_port; port=$PORT
	mkdir -p "$dir"
	sink_start "$slow" "$dir/slow.log" 127.0.0.2 -w "$SLOW_DELAY"
	sink_start "$fast" "$dir/fast.log" 127.0.0.3
	hol_relay_start "$3" "$dir" "$port" "$slow" "$fast"
	if [ "$2" = slow ]; then
		run_source "$port" "$dir/source-slow.log" b@slow.test "$SLOW_MSGS" ||
			{ cat "$dir/source-slow.log" >&2; die "run $1: smtp-source (slow) against $3 failed"; }
	fi
	t0=$(now)
	run_source "$port" "$dir/source.log" b@fast.test ||
		{ cat "$dir/source.log" >&2; die "run $1: smtp-source against $3 failed"; }
	wait_drained "$dir/fast.log" "$3 $2" echo 0
	t1=$T_END
	check_sink "$dir/fast.log" "$3 $2"
	if [ "$3" = ferryd ]; then queued=$(ferry_queue_count "$dir"); else queued=$(pf_queue_count); fi
	log "run $1: $3 $2: healthy mail in $(secs "$t0" "$t1") s; slow sink has $(sink_count "$dir/slow.log")," \
		"$3's queue $queued message(s)"
	# the sinks first: deliveries still waiting on the slow one fail at once
	sink_stop
	if [ "$3" = ferryd ]; then ferry_stop; else pf_stop; fi
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(secs "$t0" "$t1")
}

log "hol: ferryd ($FERRYD) vs Postfix $(pf_version), $MSGS msgs to a healthy smtp-sink," \
	"alone and behind $SLOW_MSGS to smtp-sink -w $SLOW_DELAY"
log "hol: $SIZE bytes, $SESS smtp-source sessions, $REPEATS run(s), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
log "hol: ferryd: $(ferry_shaping_desc)"
log "hol: postfix: transport_maps (one destination per domain), default_destination_concurrency_limit $PF_CONC," \
	"smtp_destination_concurrency_limit $PF_CONC, default_process_limit 100 (default)${PF_MAIN_CF_EXTRA:+, $PF_MAIN_CF_EXTRA}"

RESULT=
T_END=
pair_series ferryd alone "behind slow" s 2 1
pair_series postfix alone "behind slow" s 2 1 "postfix "
for r in $(seq 1 "$REPEATS"); do
	pair_run ferryd "$r" hol_run alone slow ferryd
	pair_run postfix "$r" hol_run alone slow postfix
done

pair_report postfix
pair_report ferryd
