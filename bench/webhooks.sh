#!/usr/bin/env bash
# webhooks.sh - what webhooks and metrics cost the relay: the same load
# relayed by ferryd for a tenant (its connector) to smtp-sink, without and
# with a webhook endpoint taking every event of the tenant (webhookrx.py,
# answering 200 at once) while a scraper reads /metrics every second
# (Prometheus' usual interval is 15 s or more: this is harsher). Both runs
# have the HTTP listener and the events outbox (always on). Reported as a
# ratio of relay rates (goal >= 0.9), the runs' order alternating; each run
# with the endpoint also says how many events it received and how long
# after the last message they all had arrived.
# Usage: bash bench/webhooks.sh   (MSGS, SIZE, SESS, REPEATS as in relay.sh)
set -u -o pipefail
BENCH_NAME=webhooks
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init
FERRYCTL=${FERRYCTL:-$(dirname "$FERRYD")/ferryctl}

# rx_events FILE: events the receiver has counted so far
rx_events() { sed -n 's/^events=\([0-9]*\) .*/\1/p' "$1" 2>/dev/null || true; }

# webhooks_run RUN MODE: one ferryd relaying for a tenant, MODE off or on
webhooks_run() {
	local dir=$BASE/ferry.$2.$1 port sink rx t0 t2 ctl n extra= hport saved_extra=$FERRY_CONF_EXTRA
	free_port; sink=$PORT
	free_port; port=$PORT
	mkdir -p "$dir"
	sink_start "$sink" "$dir/sink.log"
	free_port; hport=$PORT
	FERRY_CONF_EXTRA="${saved_extra:+$saved_extra
}listen http 127.0.0.1:$hport" ferry_start relay "$dir" "$port" "$sink"
	ctl=("$FERRYCTL" -c "$dir/ferry.conf")
	{ "${ctl[@]}" tenant add bench && "${ctl[@]}" domain add bench src.test &&
		"${ctl[@]}" connector add bench local 127.0.0.1/32 &&
		"${ctl[@]}" tenant limit bench --per-hour 100000000 &&
		"${ctl[@]}" tenant set bench --spike-factor 0; } >"$dir/ctl.log" 2>&1 ||
		{ cat "$dir/ctl.log" >&2; die "ferryctl failed"; }
	if [ "$2" = on ]; then
		free_port; rx=$PORT
		python3 "$BENCH_DIR/webhookrx.py" "$rx" "$dir/rx.count" >"$dir/rx.log" 2>&1 &
		other_track $!
		wait_listen "$rx" "$!" webhookrx "$dir/rx.log"
		"${ctl[@]}" webhook add bench "http://127.0.0.1:$rx/hook" >>"$dir/ctl.log" 2>&1 ||
			{ cat "$dir/ctl.log" >&2; die "webhook add failed"; }
		# a Prometheus-like scraper of /metrics, every second
		( token=$(cat "$dir/spool/admin.token")
		  while :; do
			curl -sf -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$hport/metrics" &&
				echo ok >>"$dir/scrapes"
			sleep 1
		  done ) &
		other_track $!
	fi
	t0=$(now)
	run_source "$port" "$dir/source.log" ||
		{ cat "$dir/source.log" >&2; die "run $1: smtp-source failed"; }
	wait_drained "$dir/sink.log" "$2" ferry_queue_count "$dir"
	t2=$T_END
	check_sink "$dir/sink.log" "$2"
	if [ "$2" = on ]; then
		# every message has at least its received and delivered events
		for _ in $(seq 1 1200); do
			n=$(rx_events "$dir/rx.count")
			[ "${n:-0}" -ge $((2 * MSGS)) ] && break
			sleep 0.05
		done
		extra="; webhook: $(cat "$dir/rx.count" 2>/dev/null), all in $(secs "$t2" "$(now)") s after the last message; /metrics scraped $(wc -l <"$dir/scrapes" 2>/dev/null || echo 0) times"
		[ "${n:-0}" -ge $((2 * MSGS)) ] || log "$BENCH_NAME: WARNING: run $1: the endpoint got ${n:-0} events, expected $((2 * MSGS))"
		other_stop
	fi
	ferry_stop
	sink_stop
	log "run $1: $2  $(rate "$MSGS" "$t0" "$t2") msg/s end-to-end$extra"
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(rate "$MSGS" "$t0" "$t2")
}

log "webhooks: $MSGS msgs x $SIZE bytes, $SESS sessions, $REPEATS run(s), $(nproc) cores," \
	"$(date -u '+%Y-%m-%d %H:%M UTC')"
RESULT=
PAIR_ALTERNATE=1
pair_series webhooks "no webhook, no scraper" "webhook + /metrics scraper" msg/s 0 2
for r in $(seq 1 "$REPEATS"); do
	pair_run webhooks "$r" webhooks_run off on
done
pair_report webhooks
