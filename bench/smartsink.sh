#!/usr/bin/env bash
# smartsink.sh - ferryd delivering to a receiver that behaves like a busy,
# picky Internet peer, and an account of every message.
#
#   smartsink.py send --> ferryd --(route * smtp:127.0.0.1:P)--> smartsink.py serve
#
# The receiver (bench/smartsink.py) answers each DATA after a random 50-500 ms,
# with 451 for TEMPFAIL (5%) of the numbered messages, 550 for PERMFAIL (2%),
# else 250; ferryd's DSNs (bounces to a@src.test, also routed there) are
# always taken. ferryd retries deferrals after RETRY_MIN..RETRY_MAX seconds.
# The load numbers each message (X-Bench-Id, Message-ID) and records ferryd's
# queue id from its 250. The run ends when ferryd's queue is empty or after
# TIMEOUT s; then ferryd is stopped and every sent message is looked up:
# taken by the receiver (delivered), logged event=bounced by ferryd, or still
# in its queue, exactly once. Throughput = (delivered + bounced) / (time from
# the first message sent until the queue was empty or the time was up).
# Last line:
#   throughput: N msg/s, sent: S, delivered: D, bounced: B, still queued: Q, missing: M, doubled: X
# Tunables (environment): MSGS SESS SIZE TIMEOUT TEMPFAIL PERMFAIL RETRY_MIN
# RETRY_MAX SEED KEEP BASE FERRYD FERRY_*; see bench/README.md.
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

dir=$BASE/run
free_port; sink=$PORT
free_port; port=$PORT
mkdir -p "$dir"
# shellcheck disable=SC2086 # an empty SEED adds nothing
"$PY" "$SMARTSINK" serve --listen 127.0.0.1:"$sink" --record "$dir/record" \
	--tempfail "$TEMPFAIL" --permfail "$PERMFAIL" ${SEED:+--seed "$SEED"} >"$dir/sink.log" 2>&1 &
other_track $!
wait_listen "$sink" "$!" smartsink.py "$dir/sink.log"
FERRY_CONF_EXTRA="retry_min $RETRY_MIN
retry_max $RETRY_MAX${FERRY_CONF_EXTRA:+
$FERRY_CONF_EXTRA}"
ferry_start relay "$dir" "$port" "$sink"

log "smartsink: ferryd ($FERRYD) into smartsink.py: DATA answered after 50-500 ms," \
	"451 for $TEMPFAIL, 550 for $PERMFAIL of the messages"
log "smartsink: $MSGS msgs x $SIZE bytes, $SESS sessions, time limit ${TIMEOUT}s, $(nproc) cores," \
	"$(date -u '+%Y-%m-%d %H:%M UTC')"
log "smartsink: ferryd: delivery_threads $FERRY_DELIVERY_THREADS, destination_concurrency $FERRY_DEST_CONC," \
	"destination_msgs_per_conn $FERRY_MSGS_PER_CONN, retry_min $RETRY_MIN, retry_max $RETRY_MAX"

t0=$(now)
deadline=$(($(date +%s) + TIMEOUT))
"$PY" "$SMARTSINK" send --to 127.0.0.1:"$port" --count "$MSGS" --sessions "$SESS" --size "$SIZE" \
	--sent "$dir/sent" --timeout "$TIMEOUT" 2>"$dir/send.log" ||
	{ cat "$dir/send.log" >&2; log "smartsink: WARNING: not every message was accepted (see above)"; }
t1=$(now)
next=$(($(date +%s) + 10))
while [ "$(ferry_queue_count "$dir")" -gt 0 ] && [ "$(date +%s)" -lt "$deadline" ]; do
	if [ "$(date +%s)" -ge "$next" ]; then
		log "  queue holds $(ferry_queue_count "$dir"), receiver has answered $(wc -l <"$dir/record") DATA"
		next=$((next + 10))
	fi
	sleep 0.1
done
t2=$(now)
[ "$(ferry_queue_count "$dir")" -eq 0 ] ||
	log "smartsink: time limit: ferryd's queue still holds $(ferry_queue_count "$dir") file(s)"
ferry_stop
other_stop

log "smartsink: load sent in $(secs "$t0" "$t1") s, queue empty (or time up) after $(secs "$t0" "$t2") s"
"$PY" "$SMARTSINK" account --sent "$dir/sent" --record "$dir/record" --log "$dir/ferryd.log" \
	--queue "$dir/spool/queue" >"$dir/account" 2>&1
acct=$?
sed '$d' "$dir/account"
# the account's last line: sent: S, delivered: D, bounced: B, still queued: Q, missing: M, doubled: X
last=$(tail -n 1 "$dir/account")
finals=$(awk -F'[:,] *' '{ for (i = 1; i < NF; i++) v[$i] = $(i + 1) } END { print v["delivered"] + v["bounced"] }' <<<"$last")
[ "$acct" -eq 0 ] || log "smartsink: WARNING: the account does not balance (see above)"
echo "throughput: $(rate "$finals" "$t0" "$t2") msg/s, $last"
