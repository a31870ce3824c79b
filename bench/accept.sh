#!/usr/bin/env bash
# accept.sh - how fast ferryd accepts mail durably, against Postfix, same run.
#
#   smtp-source --(SMTP, 127.0.0.1)--> ferryd  (delivery off: mail stays queued)
#   smtp-source --(SMTP, 127.0.0.1)--> Postfix (HOLD: mail stays queued)
#
# Both answer 250 only once a message is on stable storage (ferryd fsyncs the
# file and its directory with group commit; Postfix's cleanup fsyncs each
# queue file). Accept rate = MSGS / time for smtp-source to finish. Each of
# REPEATS runs starts both servers afresh on an empty spool, ferryd first,
# and checks that each spool then holds exactly MSGS messages. The last line
# is the median over the runs:
#   ferryd: N msg/s, postfix: M msg/s, ratio: R
# Tunables (environment): MSGS SESS SIZE REPEATS SRC_OPTS TIMEOUT KEEP BASE
# FERRYD FERRY_WORKERS FERRY_CONF_EXTRA PF_MAIN_CF_EXTRA; see bench/README.md.
set -u -o pipefail
BENCH_NAME=accept
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init

# accept_ferry RUN: one run against ferryd; the rate goes to RESULT (no
# subshell: the EXIT trap must see the PIDs started here)
accept_ferry() {
	local dir=$BASE/ferry.$1 port t0 t1 n cpu0 cpu1
	free_port
	port=$PORT
	ferry_start accept "$dir" "$port"
	cpu0=$(ferry_cpu_ms)
	t0=$(now)
	run_source "$port" "$dir/source.log" ||
		{ cat "$dir/source.log" >&2; die "run $1: smtp-source against ferryd failed"; }
	t1=$(now)
	cpu1=$(ferry_cpu_ms)
	n=$(ferry_queue_count "$dir")
	ferry_stop
	[ "$n" -eq "$MSGS" ] || die "run $1: ferryd's queue/ holds $n messages, expected $MSGS"
	log "run $1: ferryd  $(rate "$MSGS" "$t0" "$t1") msg/s ($(secs "$t0" "$t1") s," \
		"$n queued, ferryd CPU $(awk -v c=$((cpu1 - cpu0)) -v n="$MSGS" 'BEGIN { printf "%.2f", c / n }') ms/msg)"
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(rate "$MSGS" "$t0" "$t1")
}

# accept_postfix RUN: one run against a fresh Postfix instance; rate to RESULT
accept_postfix() {
	local dir=$BASE/postfix.$1 port t0 t1 n
	free_port
	port=$PORT
	pf_start accept "$dir" "$port"
	t0=$(now)
	run_source "$port" "$dir/source.log" ||
		{ cat "$dir/source.log" >&2; die "run $1: smtp-source against Postfix failed"; }
	t1=$(now)
	n=$(pf_queue_count)
	pf_stop
	[ "$n" -eq "$MSGS" ] || die "run $1: Postfix's queue holds $n messages, expected $MSGS"
	log "run $1: postfix $(rate "$MSGS" "$t0" "$t1") msg/s ($(secs "$t0" "$t1") s, $n queued)"
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(rate "$MSGS" "$t0" "$t1")
}

log "accept: ferryd ($FERRYD) vs Postfix $(pf_version), both durable, on 127.0.0.1"
log "accept: $MSGS msgs x $SIZE bytes, $SESS smtp-source sessions${SRC_OPTS:+ (smtp-source $SRC_OPTS)}," \
	"$REPEATS run(s), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"

RESULT=
FERRY=()
POSTFIX=()
for r in $(seq 1 "$REPEATS"); do
	accept_ferry "$r"
	f=$RESULT
	accept_postfix "$r"
	p=$RESULT
	FERRY+=("$f")
	POSTFIX+=("$p")
	echo "run $r: ferryd: $f msg/s, postfix: $p msg/s"
done

F=$(printf '%s\n' "${FERRY[@]}" | median)
P=$(printf '%s\n' "${POSTFIX[@]}" | median)
echo "ferryd: $(printf '%.0f' "$F") msg/s, postfix: $(printf '%.0f' "$P") msg/s," \
	"ratio: $(awk -v f="$F" -v p="$P" 'BEGIN { printf "%.1f", f / p }')"
