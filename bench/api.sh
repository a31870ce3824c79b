#!/usr/bin/env bash
# api.sh - injection over the HTTP API (POST /v1/messages) against SMTP
# injection, same run, same tenant rules, both relayed to smtp-sink:
#
#   smtp-source --(SMTP, as the tenant's connector)--> ferryd --> smtp-sink
#   wrk (Lua POST, JSON) --(HTTP, the tenant's key)---> ferryd --> smtp-sink
#
# Each run starts a fresh ferryd and smtp-sink. smtp-source sends MSGS
# messages of SIZE octets over SESS sessions; wrk sends MSGS JSON requests
# (text body of SIZE octets) over SESS keep-alive connections on WRK_THREADS
# threads (each thread stops after its share, and wrk, which otherwise
# runs for its whole -d, is interrupted once ferryd has logged MSGS
# requests; the count accepted is read back from ferryd's log). Rate = accepted / (time from the load's start
# until smtp-sink has counted them and the queue is empty); the accept rate
# (until the last 202 / 250) is logged per run. The last line is the median
# over REPEATS runs:
#   smtp: N msg/s, http: M msg/s, ratio: R          (R = http / smtp)
# Usage: bash bench/api.sh   (MSGS, SIZE, SESS, REPEATS as in relay.sh;
# WRK_THREADS, default 2)
set -u -o pipefail
BENCH_NAME=api
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init
command -v wrk >/dev/null || die "missing command: wrk (scripts/setup.sh installs it)"
FERRYCTL=${FERRYCTL:-$(dirname "$FERRYD")/ferryctl}
WRK_THREADS=${WRK_THREADS:-2}

# api_lua FILE: wrk's script: one JSON message per request, a thread stops
# after its share of MSGS (responses of any status count, so a refusal
# cannot make it run on forever).
api_lua() {
	local text
	text=$(head -c "$SIZE" /dev/zero | tr '\0' 'x')
	cat >"$1" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.body = '{"from": "a@src.test", "to": ["b@dst.test"], "subject": "bench", "text": "$text"}'
local share = math.floor($MSGS / $WRK_THREADS)
local done = 0
function response(status, headers, body)
	done = done + 1
	if done >= share then wrk.thread:stop() end
end
EOF
}

# api_wait_posts LOG WPID: wait until ferryd has answered MSGS requests of
# wrk (pid WPID) and no more come (its threads stopped), then stop wrk;
# API_T1: when the MSGS-th answer was seen
api_wait_posts() {
	local c=0 last=-1 deadline=$(($(date +%s) + TIMEOUT))
	API_T1=
	while :; do
		c=$(grep -c 'event=http method=POST path=/v1/messages' "$1")
		[ "$c" -ge "$MSGS" ] && [ -z "$API_T1" ] && API_T1=$(now)
		[ "$c" -ge "$MSGS" ] && [ "$c" -eq "$last" ] && break
		kill -0 "$2" 2>/dev/null || die "wrk exited early after $c requests"
		[ "$(date +%s)" -lt "$deadline" ] || die "timeout: ferryd answered $c/$MSGS requests"
		last=$c
		sleep 0.2
	done
	kill -INT "$2" 2>/dev/null
	wait "$2" 2>/dev/null
}

# api_tenant DIR: the tenant "bench" owning src.test, the client's
# connector (SMTP) and an API key (HTTP) in KEY; limits out of the way
api_tenant() {
	local ctl=("$FERRYCTL" -c "$1/ferry.conf")
	{ "${ctl[@]}" tenant add bench && "${ctl[@]}" domain add bench src.test &&
		"${ctl[@]}" connector add bench local 127.0.0.1/32 &&
		"${ctl[@]}" tenant limit bench --per-hour 100000000 &&
		"${ctl[@]}" tenant set bench --spike-factor 0; } >"$1/ctl.log" 2>&1 ||
		{ cat "$1/ctl.log" >&2; die "ferryctl failed"; }
	KEY=$("${ctl[@]}" key create bench | head -n 1 | tr -d ' ')
	[ -n "$KEY" ] || die "ferryctl key create gave no key"
}

# api_run RUN KIND: KIND smtp or http; rate to RESULT
api_run() {
	local run=$1 kind=$2 dir=$BASE/$2.$1 port sink http t0 t1 t2 n saved=$FERRY_CONF_EXTRA msgs=$MSGS cpu0 cpu1
	API_T1=
	free_port; sink=$PORT
	free_port; port=$PORT
	free_port; http=$PORT
	mkdir -p "$dir"
	sink_start "$sink" "$dir/sink.log"
	FERRY_CONF_EXTRA="${FERRY_CONF_EXTRA:+$FERRY_CONF_EXTRA
}listen http 127.0.0.1:$http"
	ferry_start relay "$dir" "$port" "$sink"
	FERRY_CONF_EXTRA=$saved
	wait_listen "$http" "$FERRY_PID" "ferryd (http)" "$dir/stderr"
	api_tenant "$dir"
	cpu0=$(ferry_cpu_ms)
	t0=$(now)
	if [ "$kind" = smtp ]; then
		run_source "$port" "$dir/source.log" ||
			{ cat "$dir/source.log" >&2; die "run $run: smtp-source failed"; }
	else
		api_lua "$dir/post.lua"
		wrk -t "$WRK_THREADS" -c "$SESS" -d "${TIMEOUT}s" --timeout 30s -s "$dir/post.lua" \
			"http://127.0.0.1:$http/v1/messages" >"$dir/wrk.log" 2>&1 &
		other_track $!
		api_wait_posts "$dir/ferryd.log" $!
	fi
	t1=${API_T1:-$(now)}
	n=$(grep -c "event=queued .*tenant=bench" "$dir/ferryd.log")
	[ "$n" -gt 0 ] || { tail -20 "$dir/ferryd.log" >&2; die "run $run ($kind): nothing queued as the tenant"; }
	MSGS=$n
	wait_drained "$dir/sink.log" "$kind" ferry_queue_count "$dir"
	t2=$T_END
	cpu1=$(ferry_cpu_ms)
	MSGS=$msgs
	ferry_stop
	sink_stop
	log "run $run: $kind $(rate "$n" "$t0" "$t2") msg/s end-to-end ($n messages in $(secs "$t0" "$t2") s;" \
		"accept $(rate "$n" "$t0" "$t1") msg/s in $(secs "$t0" "$t1") s;" \
		"ferryd CPU $(awk -v c=$((cpu1 - cpu0)) -v n="$n" 'BEGIN { printf "%.2f", c / n }') ms/msg;" \
		"refused: $(grep -c 'event=api-message-refused\|event=tenant-refused' "$dir/ferryd.log"))"
	[ "$kind" = http ] && log "  wrk: $(grep -E 'requests in|Non-2xx' "$dir/wrk.log" | tr -s ' ' | tr '\n' ';')"
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(rate "$n" "$t0" "$t2")
}

log "api: $MSGS msgs x $SIZE bytes, $SESS smtp-source sessions / wrk connections ($WRK_THREADS wrk threads)," \
	"$REPEATS run(s), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
RESULT=
KEY=
API_T1=
pair_series api smtp http msg/s 0 2
for r in $(seq 1 "$REPEATS"); do
	pair_run api "$r" api_run smtp http
done
pair_report api
