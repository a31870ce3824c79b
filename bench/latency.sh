#!/usr/bin/env bash
# latency.sh - relay throughput to a slow receiver, ferryd against Postfix.
#
#   smtp-source --> ferryd  --(route * smtp:127.0.0.1:SINK)--> smtp-sink -w 1
#   smtp-source --> Postfix --(relayhost [127.0.0.1]:SINK)---> smtp-sink -w 1
#
# The receiver answers each DATA after LATENCY seconds, as busy peers on the
# Internet do; both relays may open CONNS connections to it. A relay whose
# connections each carry one transaction at a time can then deliver at most
# CONNS / LATENCY msg/s (ideal). Rate = MSGS / (time from smtp-source's start
# until the sink has counted MSGS messages and the relay's queue is empty).
# Each of REPEATS runs starts everything afresh, ferryd first. Last line, the
# medians:
#   ferryd: N msg/s, postfix: M msg/s, ideal: I msg/s, ratio: R, of-ideal: F
# and before it ferryd's peak resident memory (VmHWM) of the median run.
# ferryd gets destination_concurrency CONNS; delivery_threads CONNS too only
# when the binary predates delivery_max_inflight (today's engine needs a
# thread per delivery).
# PREQUEUE=1 measures delivery alone: each relay first accepts all MSGS
# messages with delivery held (ferryd: delivery off; Postfix: every message
# on hold), then delivery is released (ferryd: delivery on and SIGHUP;
# Postfix: postsuper -H ALL, postqueue -f) and the clock starts.
# DIRECT=1 also measures, in each run, smtp-source itself straight into the
# same receiver over CONNS reused connections (-d -s CONNS): the ceiling this
# receiver allows, printed with ferryd's share of it (of-direct) on a line
# before the RSS line.
# Tunables (environment): CONNS DIRECT LATENCY MSGS PREQUEUE SESS SIZE REPEATS
# TIMEOUT KEEP BASE FERRYD FERRY_* PF_MAIN_CF_EXTRA SINK_MAXCONN
# SINK_BACKLOG; see bench/README.md.
set -u -o pipefail
BENCH_NAME=latency
CONNS=${CONNS:-1000}
LATENCY=${LATENCY:-1}
MSGS=${MSGS:-5000}
PREQUEUE=${PREQUEUE:-0}
case "$PREQUEUE" in 0 | 1) ;; *) echo "latency: PREQUEUE must be 0 or 1" >&2; exit 1 ;; esac
# lib.sh's relay runs hold delivery until all the load is queued
RELAY_PREQUEUE=$PREQUEUE
DIRECT=${DIRECT:-0}
case "$DIRECT" in 0 | 1) ;; *) echo "latency: DIRECT must be 0 or 1" >&2; exit 1 ;; esac
# smtp-sink serves 256 sessions at once unless told otherwise: room for all
SINK_MAXCONN=${SINK_MAXCONN:-$((CONNS + 100))}
SINK_BACKLOG=${SINK_BACKLOG:-$((CONNS + 100))}
FERRY_DEST_CONC=${FERRY_DEST_CONC:-$CONNS}
PF_CONC=${PF_CONC:-$CONNS}
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The new delivery engine (it knows delivery_max_inflight, default 20000)
# keeps many deliveries in flight per thread: destination_concurrency alone
# opens the CONNS connections. Today's engine holds a thread per delivery:
# it needs delivery_threads CONNS as well. An explicit setting wins.
if [ -z "$FERRY_DELIVERY_THREADS" ] && ! ferry_knows "delivery_max_inflight 20000"; then
	FERRY_DELIVERY_THREADS=$CONNS
fi
# Postfix's smtp processes count against default_process_limit (100)
PF_MAIN_CF_EXTRA="default_process_limit = $CONNS${PF_MAIN_CF_EXTRA:+
$PF_MAIN_CF_EXTRA}"

bench_init

IDEAL=$(awk -v c="$CONNS" -v l="$LATENCY" 'BEGIN { printf "%.0f", c / l }')
log "latency: ferryd ($FERRYD) vs Postfix $(pf_version), into smtp-sink -w $LATENCY" \
	"(DATA answered after ${LATENCY}s, -m $SINK_MAXCONN sessions at once) on 127.0.0.1"
log "latency: $MSGS msgs x $SIZE bytes, $SESS smtp-source sessions${SRC_OPTS:+ (smtp-source $SRC_OPTS)}," \
	"$CONNS connections each, ideal $IDEAL msg/s, $REPEATS run(s), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
[ "$PREQUEUE" = 1 ] &&
	log "latency: PREQUEUE=1: all $MSGS messages queued with delivery held; rates count from the release"
log "latency: ferryd: $(ferry_shaping_desc)"
log "latency: postfix: default_destination_concurrency_limit $PF_CONC, smtp_destination_concurrency_limit $PF_CONC," \
	"$(printf '%s' "$PF_MAIN_CF_EXTRA" | tr '\n' ',')"

RESULT=
RSS=
DIRECTS=()
T_END=
FERRY=()
RSSES=()
POSTFIX=()
for r in $(seq 1 "$REPEATS"); do
	if [ "$DIRECT" = 1 ]; then
		# smtp-source's sessions each reuse one connection, CONNS of them
		SESS=$CONNS SRC_OPTS="-d${SRC_OPTS:+ $SRC_OPTS}" direct_run "$r" -w "$LATENCY"
		DIRECTS+=("$RESULT")
	fi
	relay_run_ferry "$r" ferryd -w "$LATENCY"
	f=$RESULT
	relay_run_postfix "$r" -w "$LATENCY"
	p=$RESULT
	FERRY+=("$f")
	RSSES+=("$f ${RSS:-0}")
	POSTFIX+=("$p")
	echo "run $r: ferryd: $f msg/s (peak RSS ${RSS:-?} MB), postfix: $p msg/s"
done

F=$(printf '%s\n' "${FERRY[@]}" | median)
P=$(printf '%s\n' "${POSTFIX[@]}" | median)
# the RSS of the run whose rate is nearest the median
R_MB=$(printf '%s\n' "${RSSES[@]}" |
	awk -v m="$F" '{ d = $1 - m; if (d < 0) d = -d; if (NR == 1 || d < best) { best = d; r = $2 } } END { print r }')
if [ "$DIRECT" = 1 ]; then
	D=$(printf '%s\n' "${DIRECTS[@]}" | median)
	echo "direct (smtp-source -d -s $CONNS): $(printf '%.0f' "$D") msg/s (runs: $(printf '%s\n' "${DIRECTS[@]}" | paste -sd, | sed 's/,/, /g'))," \
		"of-direct: $(awk -v f="$F" -v d="$D" 'BEGIN { printf "%.2f", f / d }')"
fi
echo "ferryd peak RSS: $R_MB MB (delivery_threads ${FERRY_DELIVERY_THREADS:-default}; runs: $(printf '%s\n' "${RSSES[@]}" | awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $2 }') MB)"
echo "ferryd: $(printf '%.0f' "$F") msg/s, postfix: $(printf '%.0f' "$P") msg/s, ideal: $IDEAL msg/s," \
	"ratio: $(awk -v f="$F" -v p="$P" 'BEGIN { printf "%.1f", f / p }')," \
	"of-ideal: $(awk -v f="$F" -v i="$IDEAL" 'BEGIN { printf "%.2f", f / i }')"
