#!/usr/bin/env bash
# tenant.sh - what the relay service costs on the receiving side: the same
# smtp-source load accepted by ferryd from a relay_networks client, and
# from the same client as a tenant's connector (identity lookup, sender
# domain and From: header lockdown, rate-limit counters taken before each
# 250). Reported as a ratio; Postfix has no equivalent to compare with.
# Usage: bash bench/tenant.sh   (MSGS, SIZE, SESS, REPEATS as in accept.sh)
set -u -o pipefail
BENCH_NAME=tenant
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init
FERRYCTL=${FERRYCTL:-$(dirname "$FERRYD")/ferryctl}

# tenant_run RUN MODE: one ferryd, plain or with the client as a tenant
tenant_run() {
	local dir=$BASE/ferry.$2.$1 port t0 t1 n ctl
	free_port
	port=$PORT
	ferry_start accept "$dir" "$port"
	if [ "$2" = tenant ]; then
		ctl=("$FERRYCTL" -c "$dir/ferry.conf")
		{ "${ctl[@]}" tenant add bench && "${ctl[@]}" domain add bench src.test &&
			"${ctl[@]}" connector add bench local 127.0.0.1/32 &&
			"${ctl[@]}" tenant limit bench --per-hour 100000000 &&
			"${ctl[@]}" tenant set bench --spike-factor 0; } >"$dir/ctl.log" 2>&1 ||
			{ cat "$dir/ctl.log" >&2; die "ferryctl failed"; }
	fi
	t0=$(now)
	run_source "$port" "$dir/source.log" ||
		{ cat "$dir/source.log" >&2; die "run $1: smtp-source failed"; }
	t1=$(now)
	n=$(ferry_queue_count "$dir")
	ferry_stop
	[ "$n" -eq "$MSGS" ] || die "run $1 ($2): queue/ holds $n messages, expected $MSGS"
	if [ "$2" = tenant ]; then
		grep -q "tenant=bench" "$dir/ferryd.log" || die "run $1: messages were not taken as the tenant's"
	fi
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(rate "$MSGS" "$t0" "$t1")
}

log "tenant: $MSGS msgs x $SIZE bytes, $SESS sessions, $REPEATS run(s), $(nproc) cores," \
	"$(date -u '+%Y-%m-%d %H:%M UTC')"
RESULT=
pair_series tenant plain "as a tenant" msg/s 0 2
for r in $(seq 1 "$REPEATS"); do
	pair_run tenant "$r" tenant_run plain tenant
done
pair_report tenant
