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
# PF_MAIN_CF_EXTRA; see bench/README.md. SCAN=1 runs relay-scan.sh instead:
# the same load with rspamd scanning every message for both relays.
set -u -o pipefail
if [ "${SCAN:-0}" = 1 ]; then
	exec bash "$(dirname "${BASH_SOURCE[0]}")/relay-scan.sh" "$@"
fi
BENCH_NAME=relay
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init

# relay_ferry RUN [dkim]: through ferryd (signing with an RSA-2048 and an
# Ed25519 key when asked); rate to RESULT
relay_ferry() {
	local saved=$FERRY_CONF_EXTRA
	if [ "${2:-}" = dkim ]; then
		# smtp-source writes "From: <a@src.test>": sign for src.test with both keys
		FERRY_CONF_EXTRA="${FERRY_CONF_EXTRA:+$FERRY_CONF_EXTRA
}dkim_sign src.test rsa $BASE/dkim-rsa.pem
dkim_sign src.test ed $BASE/dkim-ed.pem"
		relay_run_ferry "$1" "ferryd+dkim"
	else
		relay_run_ferry "$1" ferryd
	fi
	FERRY_CONF_EXTRA=$saved
}

log "relay: ferryd ($FERRYD) vs Postfix $(pf_version) vs direct, into smtp-sink on 127.0.0.1"
log "relay: $MSGS msgs x $SIZE bytes, $SESS smtp-source sessions${SRC_OPTS:+ (smtp-source $SRC_OPTS)}," \
	"$REPEATS run(s), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
log "relay: ferryd: $(ferry_shaping_desc)"
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
	direct_run "$r"
	d=$RESULT
	relay_ferry "$r"
	f=$RESULT
	relay_ferry "$r" dkim
	s=$RESULT
	relay_run_postfix "$r"
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
