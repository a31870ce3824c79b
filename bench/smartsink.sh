#!/usr/bin/env bash
# smartsink.sh - ferryd and Postfix delivering to a receiver that behaves
# like a busy, picky Internet peer, and an account of every message.
#
#   smartsink.py send --> ferryd  --(route * smtp:127.0.0.1:P)------> smartsink.py serve
#   smartsink.py send --> Postfix --(relayhost [127.0.0.1]:P)-------> smartsink.py serve
#
# The receiver (bench/smartsink.py) answers each DATA after a random 50-500 ms,
# with 451 for TEMPFAIL (5%) of the numbered messages, 550 for PERMFAIL (2%),
# else 250; the relays' DSNs (bounces to a@src.test, also routed there) are
# always taken. Both relays retry deferrals after RETRY_MIN..RETRY_MAX seconds
# (ferryd retry_min/retry_max; Postfix minimal_backoff_time,
# maximal_backoff_time and queue_run_delay). The load numbers each message
# (X-Bench-Id, Message-ID) and records the relay's queue id from its 250.
# A run ends when the relay's queue is empty or after TIMEOUT s; then the
# relay is stopped and every sent message is looked up: taken by the
# receiver (delivered), logged as bounced by the relay, or still in its
# queue, exactly once. Throughput = (delivered + bounced) / (time from the
# first message sent until the queue was empty or the time was up). ferryd
# runs first, then Postfix, each with a fresh receiver. Last two lines:
#   postfix throughput: N msg/s, sent: S, delivered: D, bounced: B, still queued: Q, missing: M, doubled: X
#   throughput: N msg/s, sent: S, delivered: D, bounced: B, still queued: Q, missing: M, doubled: X   (ferryd)
# Tunables (environment): MSGS SESS SIZE TIMEOUT TEMPFAIL PERMFAIL RETRY_MIN
# RETRY_MAX SEED KEEP BASE FERRYD FERRY_* PF_CONC PF_MAIN_CF_EXTRA; see
# bench/README.md.
set -u -o pipefail
BENCH_NAME=smartsink
MSGS=${MSGS:-5000}
TEMPFAIL=${TEMPFAIL:-0.05}
PERMFAIL=${PERMFAIL:-0.02}
RETRY_MIN=${RETRY_MIN:-2}
RETRY_MAX=${RETRY_MAX:-10}
SEED=${SEED:-}
PY=/usr/bin/python3
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SMARTSINK=$BENCH_DIR/smartsink.py

bench_init
[ -x "$PY" ] || die "missing $PY (Debian's python3)"

# smart_queue_count RELAY DIR: messages (DSNs included) still in RELAY's queue
smart_queue_count() {
	if [ "$1" = ferryd ]; then ferry_queue_count "$2"; else pf_queue_count; fi
}

# smart_run RELAY: MSGS messages through a fresh RELAY (ferryd or postfix)
# into a fresh receiver; the account's lines to stdout, prefixed with RELAY,
# and its summary line, throughput first, to RESULT
smart_run() {
	local relay=$1 dir=$BASE/$1 sink port t0 t1 t2 deadline next acct last finals relay_log
	local -a queues
	free_port; sink=$PORT
	free_port; port=$PORT
	mkdir -p "$dir"
	# shellcheck disable=SC2086 # an empty SEED adds nothing
	"$PY" "$SMARTSINK" serve --listen 127.0.0.1:"$sink" --record "$dir/record" \
		--tempfail "$TEMPFAIL" --permfail "$PERMFAIL" ${SEED:+--seed "$SEED"} >"$dir/sink.log" 2>&1 &
	other_track $!
	wait_listen "$sink" "$!" smartsink.py "$dir/sink.log"
	if [ "$relay" = ferryd ]; then
		local FERRY_CONF_EXTRA="retry_min $RETRY_MIN
retry_max $RETRY_MAX${FERRY_CONF_EXTRA:+
$FERRY_CONF_EXTRA}"
		ferry_start relay "$dir" "$port" "$sink"
		queues=(--queue "$dir/spool/queue")
		relay_log=$dir/ferryd.log
	else
		local PF_MAIN_CF_EXTRA="minimal_backoff_time = ${RETRY_MIN}s
maximal_backoff_time = ${RETRY_MAX}s
queue_run_delay = ${RETRY_MIN}s${PF_MAIN_CF_EXTRA:+
$PF_MAIN_CF_EXTRA}"
		pf_start relay "$dir" "$port" "$sink"
		queues=(--queue "$PF_SPOOL/maildrop" --queue "$PF_SPOOL/incoming" --queue "$PF_SPOOL/active"
			--queue "$PF_SPOOL/deferred" --queue "$PF_SPOOL/hold")
		relay_log=$dir/maillog
	fi

	t0=$(now)
	deadline=$(($(date +%s) + TIMEOUT))
	"$PY" "$SMARTSINK" send --to 127.0.0.1:"$port" --count "$MSGS" --sessions "$SESS" --size "$SIZE" \
		--sent "$dir/sent" --timeout "$TIMEOUT" 2>"$dir/send.log" ||
		{ cat "$dir/send.log" >&2; log "smartsink: $relay: WARNING: not every message was accepted (see above)"; }
	t1=$(now)
	next=$(($(date +%s) + 10))
	while [ "$(smart_queue_count "$relay" "$dir")" -gt 0 ] && [ "$(date +%s)" -lt "$deadline" ]; do
		if [ "$(date +%s)" -ge "$next" ]; then
			log "  $relay: queue holds $(smart_queue_count "$relay" "$dir")," \
				"receiver has answered $(wc -l <"$dir/record") DATA"
			next=$((next + 10))
		fi
		sleep 0.1
	done
	t2=$(now)
	[ "$(smart_queue_count "$relay" "$dir")" -eq 0 ] ||
		log "smartsink: $relay: time limit: the queue still holds $(smart_queue_count "$relay" "$dir") file(s)"
	if [ "$relay" = ferryd ]; then ferry_stop; else pf_stop; fi
	other_stop

	log "smartsink: $relay: load sent in $(secs "$t0" "$t1") s, queue empty (or time up) after $(secs "$t0" "$t2") s"
	"$PY" "$SMARTSINK" account --relay "$relay" --sent "$dir/sent" --record "$dir/record" \
		--log "$relay_log" "${queues[@]}" >"$dir/account" 2>&1
	acct=$?
	sed '$d' "$dir/account" | sed "s/^/$relay: /"
	# the account's last line: sent: S, delivered: D, bounced: B, still queued: Q, missing: M, doubled: X
	last=$(tail -n 1 "$dir/account")
	finals=$(awk -F'[:,] *' '{ for (i = 1; i < NF; i++) v[$i] = $(i + 1) } END { print v["delivered"] + v["bounced"] }' <<<"$last")
	[ "$acct" -eq 0 ] || log "smartsink: $relay: WARNING: the account does not balance (see above)"
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT="throughput: $(rate "$finals" "$t0" "$t2") msg/s, $last"
}

log "smartsink: ferryd ($FERRYD) vs Postfix $(pf_version) into smartsink.py: DATA answered after 50-500 ms," \
	"451 for $TEMPFAIL, 550 for $PERMFAIL of the messages"
log "smartsink: $MSGS msgs x $SIZE bytes, $SESS sessions, time limit ${TIMEOUT}s, $(nproc) cores," \
	"$(date -u '+%Y-%m-%d %H:%M UTC')"
log "smartsink: ferryd: $(ferry_shaping_desc), retry_min $RETRY_MIN, retry_max $RETRY_MAX"
log "smartsink: postfix: default_destination_concurrency_limit $PF_CONC, smtp_destination_concurrency_limit $PF_CONC," \
	"minimal_backoff_time ${RETRY_MIN}s, maximal_backoff_time ${RETRY_MAX}s, queue_run_delay ${RETRY_MIN}s${PF_MAIN_CF_EXTRA:+, $PF_MAIN_CF_EXTRA}"

RESULT=
smart_run ferryd
FERRY_LINE=$RESULT
smart_run postfix
echo "postfix $RESULT"
echo "$FERRY_LINE"
