#!/usr/bin/env bash
# relay.sh - end-to-end relay throughput of ferryd, against Postfix, same run.
#
#   smtp-source --> ferryd  --(route * smtp:127.0.0.1:SINK)--> smtp-sink
#   smtp-source --> Postfix --(relayhost [127.0.0.1]:SINK)---> smtp-sink
#   smtp-source ---------------------------------------------> smtp-sink
#
# The last path has no relay at all: it is the ceiling the load generator and
# the receiver allow on this machine. Rate = MSGS / (time from smtp-source's
# start until smtp-sink has counted MSGS messages and the relay's queue is
# empty again). Each of REPEATS runs starts every server afresh, in the order
# direct, ferryd, Postfix. The last line is the median over the runs:
#   ferryd: N msg/s, postfix: M msg/s, direct: D msg/s, ratio: R, of-direct: F
# Tunables (environment): MSGS SESS SIZE REPEATS SRC_OPTS TIMEOUT KEEP BASE
# FERRYD FERRY_WORKERS FERRY_DELIVERY_THREADS FERRY_DEST_CONC
# FERRY_MSGS_PER_CONN FERRY_DEST_RATE FERRY_CONF_EXTRA PF_CONC
# PF_MAIN_CF_EXTRA; see bench/README.md.
set -u -o pipefail
BENCH_NAME=relay
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init

# wait_drained SINKLOG WHAT QUEUECMD...: wait until the sink has counted
# MSGS messages and QUEUECMD prints 0; sets T_END. Logs progress every 10 s.
wait_drained() {
	local sinklog=$1 what=$2 start deadline c q next
	shift 2
	start=$(date +%s)
	deadline=$((start + TIMEOUT))
	next=$((start + 10))
	while :; do
		c=$(sink_count "$sinklog")
		if [ "$c" -ge "$MSGS" ]; then
			q=$("$@")
			[ "$q" -eq 0 ] && { T_END=$(now); return 0; }
		fi
		if [ "$(date +%s)" -ge "$next" ]; then
			log "  $what: sink has $c/$MSGS, queue holds $("$@")"
			next=$((next + 10))
		fi
		[ "$(date +%s)" -lt "$deadline" ] ||
			die "$what: timeout after ${TIMEOUT}s: sink has $c/$MSGS, queue holds $("$@")"
		sleep 0.05
	done
}

# check_sink SINKLOG WHAT: the sink got each message once, no more
check_sink() {
	local c
	c=$(sink_count "$1")
	[ "$c" -eq "$MSGS" ] || log "$BENCH_NAME: WARNING: $2: smtp-sink counted $c messages, expected $MSGS"
}

# relay_direct RUN: smtp-source straight into smtp-sink; rate to RESULT
relay_direct() {
	local dir=$BASE/direct.$1 t0 t1
	mkdir -p "$dir"
	free_port
	sink_start "$PORT" "$dir/sink.log"
	t0=$(now)
	run_source "$PORT" "$dir/source.log" ||
		{ cat "$dir/source.log" >&2; die "run $1: smtp-source against smtp-sink failed"; }
	wait_drained "$dir/sink.log" direct echo 0
	t1=$T_END
	check_sink "$dir/sink.log" direct
	sink_stop
	log "run $1: direct  $(rate "$MSGS" "$t0" "$t1") msg/s ($(secs "$t0" "$t1") s)"
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(rate "$MSGS" "$t0" "$t1")
}

# relay_ferry RUN [dkim]: through ferryd (signing with an RSA-2048 and an
# Ed25519 key when asked); rate to RESULT
relay_ferry() {
	local dir=$BASE/ferry.$1${2:+.$2} port sink t0 t1 t2 cpu0 cpu1 label=ferryd saved=$FERRY_CONF_EXTRA
	free_port; sink=$PORT
	free_port; port=$PORT
	mkdir -p "$dir"
	sink_start "$sink" "$dir/sink.log"
	if [ "${2:-}" = dkim ]; then
		label="ferryd+dkim"
		# smtp-source writes "From: <a@src.test>": sign for src.test with both keys
		FERRY_CONF_EXTRA="${FERRY_CONF_EXTRA:+$FERRY_CONF_EXTRA
}dkim_sign src.test rsa $BASE/dkim-rsa.pem
dkim_sign src.test ed $BASE/dkim-ed.pem"
	fi
	ferry_start relay "$dir" "$port" "$sink"
	FERRY_CONF_EXTRA=$saved
	cpu0=$(ferry_cpu_ms)
	t0=$(now)
	run_source "$port" "$dir/source.log" ||
		{ cat "$dir/source.log" >&2; die "run $1: smtp-source against ferryd failed"; }
	t1=$(now)
	wait_drained "$dir/sink.log" ferryd ferry_queue_count "$dir"
	t2=$T_END
	cpu1=$(ferry_cpu_ms)
	check_sink "$dir/sink.log" ferryd
	ferry_stop
	sink_stop
	! grep -q 'event=dkim-failed' "$dir/ferryd.log" || die "run $1: ferryd could not sign (see $dir/ferryd.log)"
	log "run $1: $label  $(rate "$MSGS" "$t0" "$t2") msg/s end-to-end ($(secs "$t0" "$t2") s;" \
		"accept $(rate "$MSGS" "$t0" "$t1") msg/s in $(secs "$t0" "$t1") s;" \
		"ferryd CPU $(awk -v c=$((cpu1 - cpu0)) -v n="$MSGS" 'BEGIN { printf "%.2f", c / n }') ms/msg;" \
		"$(grep -c 'event=delivered' "$dir/ferryd.log") delivered," \
		"$(grep -c 'event=deferred' "$dir/ferryd.log") deferred)"
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(rate "$MSGS" "$t0" "$t2")
}

# relay_postfix RUN: through a fresh Postfix instance; rate to RESULT
relay_postfix() {
	local dir=$BASE/postfix.$1 port sink t0 t1 t2
	free_port; sink=$PORT
	free_port; port=$PORT
	mkdir -p "$dir"
	sink_start "$sink" "$dir/sink.log"
	pf_start relay "$dir" "$port" "$sink"
	t0=$(now)
	run_source "$port" "$dir/source.log" ||
		{ cat "$dir/source.log" >&2; die "run $1: smtp-source against Postfix failed"; }
	t1=$(now)
	wait_drained "$dir/sink.log" postfix pf_queue_count
	t2=$T_END
	check_sink "$dir/sink.log" postfix
	pf_stop
	sink_stop
	log "run $1: postfix $(rate "$MSGS" "$t0" "$t2") msg/s end-to-end ($(secs "$t0" "$t2") s;" \
		"accept $(rate "$MSGS" "$t0" "$t1") msg/s in $(secs "$t0" "$t1") s)"
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(rate "$MSGS" "$t0" "$t2")
}

log "relay: ferryd ($FERRYD) vs Postfix $(pf_version) vs direct, into smtp-sink on 127.0.0.1"
log "relay: $MSGS msgs x $SIZE bytes, $SESS smtp-source sessions${SRC_OPTS:+ (smtp-source $SRC_OPTS)}," \
	"$REPEATS run(s), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
log "relay: ferryd: workers $FERRY_WORKERS (0: one per core), delivery_threads $FERRY_DELIVERY_THREADS," \
	"destination_concurrency $FERRY_DEST_CONC, destination_msgs_per_conn $FERRY_MSGS_PER_CONN," \
	"destination_rate $FERRY_DEST_RATE (0: unlimited), smtp_tls none${FERRY_CONF_EXTRA:+, $FERRY_CONF_EXTRA}"
log "relay: postfix: default_destination_concurrency_limit $PF_CONC, smtp_destination_concurrency_limit $PF_CONC," \
	"connection cache on demand (default), smtp_tls_security_level none${PF_MAIN_CF_EXTRA:+, $PF_MAIN_CF_EXTRA}"

# DKIM keys for the signed run (ferryd reads them as root at start)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$BASE/dkim-rsa.pem" 2>/dev/null &&
	openssl genpkey -algorithm ED25519 -out "$BASE/dkim-ed.pem" 2>/dev/null &&
	chmod 600 "$BASE/dkim-rsa.pem" "$BASE/dkim-ed.pem" || die "cannot create DKIM keys"

RESULT=
T_END=
DIRECT=()
FERRY=()
SIGNED=()
POSTFIX=()
for r in $(seq 1 "$REPEATS"); do
	relay_direct "$r"
	d=$RESULT
	relay_ferry "$r"
	f=$RESULT
	relay_ferry "$r" dkim
	s=$RESULT
	relay_postfix "$r"
	p=$RESULT
	DIRECT+=("$d")
	FERRY+=("$f")
	SIGNED+=("$s")
	POSTFIX+=("$p")
	echo "run $r: ferryd: $f msg/s, ferryd+dkim: $s msg/s, postfix: $p msg/s, direct: $d msg/s"
done

S=$(printf '%s\n' "${SIGNED[@]}" | median)
RSA_SIGNS=$(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $6 }')

F=$(printf '%s\n' "${FERRY[@]}" | median)
P=$(printf '%s\n' "${POSTFIX[@]}" | median)
D=$(printf '%s\n' "${DIRECT[@]}" | median)
echo "dkim: signed (RSA-2048 + Ed25519) $(printf '%.0f' "$S") msg/s, unsigned $(printf '%.0f' "$F") msg/s," \
	"cost: $(awk -v f="$F" -v s="$S" 'BEGIN { printf "%.2f", s / f }') of unsigned;" \
	"openssl speed rsa2048: ${RSA_SIGNS:-?} signs/s on this machine (one core)"
echo "ferryd: $(printf '%.0f' "$F") msg/s, postfix: $(printf '%.0f' "$P") msg/s," \
	"direct: $(printf '%.0f' "$D") msg/s," \
	"ratio: $(awk -v f="$F" -v p="$P" 'BEGIN { printf "%.1f", f / p }')," \
	"of-direct: $(awk -v f="$F" -v d="$D" 'BEGIN { printf "%.2f", f / d }')"
