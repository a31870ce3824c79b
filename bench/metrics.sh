#!/usr/bin/env bash
# metrics.sh - what the Prometheus metrics cost the relay. First the hot
# path alone (metrics_update.c: ns per counter update and per histogram
# observation, 1 and 2 threads on one slot; a relayed message makes about
# ten such updates). Then the same load relayed by ferryd to smtp-sink
# without and with a scraper (curl, as Prometheus would) asking GET
# /metrics with the admin token every SCRAPE_S seconds (default 0.2: 75
# times Prometheus' usual 15 s; each scrape walks the queue under the queue
# manager's lock and renders every series), reported as a ratio of relay
# rates (goal >= 0.9). The counters themselves are always on: the first
# part is their cost. Then ferryd's CPU per scrape alone (MSGS queued, a
# keep-alive client). Each run also says ferryd's own CPU time per message
# (the scraper, curl, competes for the same cores: on a small machine the
# relay rate pays for curl too). The last scrape after each run must count
# every message delivered.
# Usage: bash bench/metrics.sh   (MSGS, SIZE, SESS, REPEATS as in relay.sh
# (an even number: the order alternates); SCRAPE_S; AA=1 for a run pair
# without scraper both times)
set -u -o pipefail
BENCH_NAME=metrics
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCRAPE_S=${SCRAPE_S:-0.2}
bench_init
command -v curl >/dev/null || die "missing command: curl"
FERRYCTL=${FERRYCTL:-$(dirname "$FERRYD")/ferryctl}

# delivered DIR: recipients delivered as ferryd's metrics count them
delivered() {
	"$FERRYCTL" -c "$1/ferry.conf" metrics 2>/dev/null |
		awk '/^ferry_recipients_delivered_total\{/ { n += $2 } END { printf "%d", n }'
}

# metrics_run RUN MODE: one ferryd relaying to smtp-sink, MODE off (no
# scraper) or on (scraping every SCRAPE_S)
metrics_run() {
	local dir=$BASE/ferry.$2.$1 port sink http t0 t2 n token cpu scrapes=0
	free_port; sink=$PORT
	free_port; port=$PORT
	free_port; http=$PORT
	mkdir -p "$dir"
	sink_start "$sink" "$dir/sink.log"
	FERRY_CONF_EXTRA="listen http 127.0.0.1:$http" ferry_start relay "$dir" "$port" "$sink"
	if [ "$2" = on ]; then
		token=$("$FERRYCTL" -c "$dir/ferry.conf" admin-token) || die "ferryctl admin-token failed"
		( while :; do
			curl -sf -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$http/metrics" &&
				echo x
			sleep "$SCRAPE_S"
		done ) >"$dir/scrapes" &
		other_track $!
	fi
	t0=$(now)
	run_source "$port" "$dir/source.log" ||
		{ cat "$dir/source.log" >&2; die "run $1: smtp-source failed"; }
	wait_drained "$dir/sink.log" "$2" ferry_queue_count "$dir"
	t2=$T_END
	check_sink "$dir/sink.log" "$2"
	if [ "$2" = on ]; then
		other_stop
		scrapes=$(wc -l <"$dir/scrapes")
	fi
	# the delivered events reach the counters as the outcomes are noted
	for _ in $(seq 1 100); do
		n=$(delivered "$dir")
		[ "${n:-0}" -ge "$MSGS" ] && break
		sleep 0.05
	done
	[ "${n:-0}" -eq "$MSGS" ] || log "$BENCH_NAME: WARNING: run $1: metrics count ${n:-0} delivered, expected $MSGS"
	cpu=$(ferry_cpu_ms)
	ferry_stop
	sink_stop
	log "run $1: $2  $(rate "$MSGS" "$t0" "$t2") msg/s end-to-end; $scrapes scrapes; delivered per metrics: $n;" \
		"ferryd CPU $(awk -v c="$cpu" -v n="$MSGS" 'BEGIN { printf "%.3f", c / n }') ms/msg"
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(rate "$MSGS" "$t0" "$t2")
}

log "metrics: $MSGS msgs x $SIZE bytes, $SESS sessions, $REPEATS run(s), scrape every ${SCRAPE_S}s," \
	"$(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
cc -O2 -I"$FERRY_ROOT/src" -o "$BASE/metrics_update" "$BENCH_DIR/metrics_update.c" \
	"$FERRY_ROOT/src/metrics/metrics.c" -lpthread || die "cannot build metrics_update"
"$BASE/metrics_update"
# scrape_cost: ferryd's CPU per scrape, alone: MSGS messages queued and
# held (delivery off), then SCRAPES_N scrapes over one keep-alive
# connection; prints "scrape: X ms of ferryd CPU with MSGS queued"
SCRAPES_N=${SCRAPES_N:-300}
scrape_cost() {
	local dir=$BASE/ferry.scrape port http token c0 c1 url urls=()
	free_port; port=$PORT
	free_port; http=$PORT
	FERRY_CONF_EXTRA="listen http 127.0.0.1:$http" ferry_start held "$dir" "$port" 9
	run_source "$port" "$dir/source.log" || { cat "$dir/source.log" >&2; die "smtp-source failed"; }
	token=$("$FERRYCTL" -c "$dir/ferry.conf" admin-token) || die "ferryctl admin-token failed"
	url="http://127.0.0.1:$http/metrics"
	for _ in $(seq 1 "$SCRAPES_N"); do urls+=("$url"); done
	c0=$(ferry_cpu_ms)
	curl -sf -H "Authorization: Bearer $token" "${urls[@]}" >/dev/null || die "scrape failed"
	c1=$(ferry_cpu_ms)
	ferry_stop
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	echo "scrape: $(awk -v c=$((c1 - c0)) -v n="$SCRAPES_N" 'BEGIN { printf "%.2f", c / n }') ms of ferryd CPU" \
		"with $MSGS queued ($SCRAPES_N scrapes)"
}

# metrics_pair RUN: one repeat, the two runs in alternating order (odd
# repeats without the scraper first): on this kind of machine the second
# run of a pair is often the slower one whatever it does (AA=1 shows it).
metrics_pair() {
	local first=off second=$ON a b
	if [ $(($1 % 2)) = 0 ]; then first=$ON; second=off; fi
	metrics_run "$1" "$first"
	a=$RESULT
	metrics_run "$1" "$second"
	b=$RESULT
	if [ "$first" != off ]; then local t=$a; a=$b; b=$t; fi
	PAIR_AS[metrics]="${PAIR_AS[metrics]} $a"
	PAIR_BS[metrics]="${PAIR_BS[metrics]} $b"
	echo "run $1: $(pair_line metrics "$a" "$b")"
}

# AA=1: both runs without a scraper, to see what the order alone does
ON=on
[ "${AA:-0}" = 1 ] && ON=off
scrape_cost
RESULT=
pair_series metrics "no scraper" "$([ "$ON" = on ] && echo scraped || echo "no scraper again")" msg/s 0 2
for r in $(seq 1 "$REPEATS"); do
	metrics_pair "$r"
done
pair_report metrics
