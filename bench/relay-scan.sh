#!/usr/bin/env bash
# relay-scan.sh - the cost of content scanning: relay throughput of ferryd
# and of Postfix, each without a content filter and with the same rspamd
# (Debian's, in milter mode through its proxy worker) scanning every message,
# same run.
#
#   smtp-source --> ferryd  --(route * smtp:127.0.0.1:SINK)--> smtp-sink
#                    `-- milter --> rspamd (listen mx ... milters=rspamd)
#   smtp-source --> Postfix --(relayhost [127.0.0.1]:SINK)---> smtp-sink
#                    `-- milter --> rspamd (smtpd_milters, milter_protocol 6)
#
# Rate as in relay.sh: MSGS / (time from smtp-source's start until smtp-sink
# has counted MSGS messages and the relay's queue is empty again). Each of
# REPEATS runs does ferryd, ferryd+scan, Postfix, Postfix+scan; one rspamd
# (RSPAMD_WORKERS proxy processes, self-scanning, no Redis, no network, the
# configuration of tests/integration/rspamdpeer.py) serves all of them.
# Both relays: default_action tempfail, so a failed scan would show as
# smtp-source errors, not as mail passing unscanned. The last line is the
# median over the runs:
#   ferryd+scan: N msg/s, postfix+scan: M msg/s, ratio: R, ferryd scan cost: C, postfix scan cost: D
# where a scan cost is scanned rate / unscanned rate of the same server.
# Tunables: those of relay.sh, and RSPAMD_WORKERS (default: the core count).
set -u -o pipefail
BENCH_NAME=relay-scan
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init

RSPAMD_WORKERS=${RSPAMD_WORKERS:-$(nproc)}
command -v rspamd >/dev/null || die "rspamd is not installed (scripts/setup.sh installs it)"
free_port
RSPAMD_PORT=$PORT
RSPAMD_PID=$(/usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/rspamdpeer.py" \
	"$BASE/rspamd" "$RSPAMD_PORT" "$RSPAMD_WORKERS") || die "rspamd did not start (see $BASE/rspamd)"
other_track "$RSPAMD_PID"

log "relay-scan: ferryd ($FERRYD) vs Postfix $(pf_version), each unscanned and with rspamd $(rspamd --version 2>/dev/null |
	awk '{ print $NF; exit }') ($RSPAMD_WORKERS proxy workers) as milter, into smtp-sink on 127.0.0.1"
log "relay-scan: $MSGS msgs x $SIZE bytes, $SESS smtp-source sessions, $REPEATS run(s), $(nproc) cores," \
	"$(date -u '+%Y-%m-%d %H:%M UTC')"

SCAN_FERRY_CONF="milter rspamd inet:127.0.0.1:$RSPAMD_PORT timeout=60s default_action=tempfail"
SCAN_PF_CF="smtpd_milters = inet:127.0.0.1:$RSPAMD_PORT
milter_default_action = tempfail
milter_protocol = 6"

# scan_ferry RUN: ferryd with its listener's mail scanned; rate to RESULT
scan_ferry() {
	local saved=$FERRY_CONF_EXTRA
	FERRY_CONF_EXTRA="${FERRY_CONF_EXTRA:+$FERRY_CONF_EXTRA
}$SCAN_FERRY_CONF"
	FERRY_LISTEN_OPTS="milters=rspamd"
	relay_run_ferry "$1" ferryd+scan
	FERRY_LISTEN_OPTS=
	FERRY_CONF_EXTRA=$saved
}

# scan_postfix RUN: Postfix with smtpd_milters; rate to RESULT
scan_postfix() {
	local saved=$PF_MAIN_CF_EXTRA
	PF_MAIN_CF_EXTRA="${PF_MAIN_CF_EXTRA:+$PF_MAIN_CF_EXTRA
}$SCAN_PF_CF"
	PF_LABEL=postfix+scan relay_run_postfix "$1"
	PF_MAIN_CF_EXTRA=$saved
}

RESULT=
T_END=
FERRY=()
FSCAN=()
POSTFIX=()
PSCAN=()
for r in $(seq 1 "$REPEATS"); do
	relay_run_ferry "$r" ferryd
	FERRY+=("$RESULT")
	scan_ferry "$r"
	FSCAN+=("$RESULT")
	relay_run_postfix "$r"
	POSTFIX+=("$RESULT")
	scan_postfix "$r"
	PSCAN+=("$RESULT")
	echo "run $r: ferryd: ${FERRY[-1]} msg/s, ferryd+scan: ${FSCAN[-1]} msg/s," \
		"postfix: ${POSTFIX[-1]} msg/s, postfix+scan: ${PSCAN[-1]} msg/s"
done

F=$(printf '%s\n' "${FERRY[@]}" | median)
FS=$(printf '%s\n' "${FSCAN[@]}" | median)
P=$(printf '%s\n' "${POSTFIX[@]}" | median)
PS=$(printf '%s\n' "${PSCAN[@]}" | median)
echo "unscanned: ferryd $(printf '%.0f' "$F") msg/s, postfix $(printf '%.0f' "$P") msg/s"
echo "ferryd+scan: $(printf '%.0f' "$FS") msg/s, postfix+scan: $(printf '%.0f' "$PS") msg/s," \
	"ratio: $(awk -v f="$FS" -v p="$PS" 'BEGIN { printf "%.1f", (p > 0 ? f / p : 0) }')," \
	"ferryd scan cost: $(awk -v s="$FS" -v u="$F" 'BEGIN { printf "%.2f", (u > 0 ? s / u : 0) }')," \
	"postfix scan cost: $(awk -v s="$PS" -v u="$P" 'BEGIN { printf "%.2f", (u > 0 ? s / u : 0) }')"
