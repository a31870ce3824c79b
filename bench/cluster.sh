#!/usr/bin/env bash
# cluster.sh - the accept rate of tenant mail (a connector's, so every
# message takes the tenant's rate windows and writes its events) on:
#   single   one node, SQLite state, local counters (the embedded default)
#   redis1   one node, SQLite state, counters on Redis: the per-message cost
#            of shared counters (one Lua take per message)
#   cluster2 two nodes sharing PostgreSQL state and Redis counters, loaded
#            at once (MSGS/2 each; the aggregate rate)
# on this machine (both nodes, PostgreSQL and Redis share its 2 cores).
# Delivery is off: this measures acceptance (the 250 after the fsync).
# PostgreSQL is the tests' throwaway server (tests/integration/pgserver.py:
# fsync off; the state is not mail, the spool stays fsync'd on each node).
# The two-node runs use the state cache in Redis (state_cache on, the
# default); STATE_CACHE=off runs them without it, STATE_CACHE=both runs
# each pair (on, then off) in every repeat and prints both; CLUSTER_ONLY=1
# skips the one-node runs (no ratio to SQLite is printed then).
# Usage: bash bench/cluster.sh   (MSGS, SIZE, SESS, REPEATS as in relay.sh)
set -u -o pipefail
BENCH_NAME=cluster
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init
# the servers go with the rest when the script ends, however it ends
trap 'servers_stop; bench_teardown' EXIT
FERRYCTL=${FERRYCTL:-$(dirname "$FERRYD")/ferryctl}
SRC_DIR=$(cd "$BENCH_DIR/.." && pwd)
STATE_CACHE=${STATE_CACHE:-on}
CLUSTER_ONLY=${CLUSTER_ONLY:-0}
case $STATE_CACHE in
on|off) CACHE_MODES=("$STATE_CACHE") ;;
both) CACHE_MODES=(on off) ;;
*) die "STATE_CACHE: on, off or both" ;;
esac

servers_start() {
	python3 "$SRC_DIR/tests/integration/pgserver.py" start --redis >"$BASE/servers.env" ||
		die "cannot start PostgreSQL and Redis"
	# shellcheck disable=SC1091
	. "$BASE/servers.env"
}
servers_stop() {
	[ -n "${FERRY_TEST_PG_DIR:-}" ] && python3 "$SRC_DIR/tests/integration/pgserver.py" stop "$FERRY_TEST_PG_DIR"
	FERRY_TEST_PG_DIR=
}

# tenant_setup CONF: the bench tenant, its domain and connector (any node)
tenant_setup() {
	local ctl=("$FERRYCTL" -c "$1")
	{ "${ctl[@]}" tenant add bench && "${ctl[@]}" domain add bench src.test &&
		"${ctl[@]}" connector add bench local 127.0.0.1/32 &&
		"${ctl[@]}" tenant limit bench --per-hour 100000000 &&
		"${ctl[@]}" tenant set bench --spike-factor 0; } >"$(dirname "$1")/ctl.log" 2>&1 ||
		{ cat "$(dirname "$1")/ctl.log" >&2; die "ferryctl failed"; }
}

# node_start DIR EXTRA: a node accepting on a free port (PORT, PID set)
node_start() {
	local saved=$FERRY_CONF_EXTRA
	free_port
	FERRY_CONF_EXTRA="$2" ferry_start held "$1" "$PORT" 9   # delivery is off: port 9 never used
	FERRY_CONF_EXTRA=$saved
	PID=$FERRY_PID
	FERRY_PID=
}

# one_node RUN MODE: MODE single or redis1; prints the accept rate
one_node() {
	local dir=$BASE/$2.$1 extra= t0 t1 port pid
	[ "$2" = redis1 ] && extra="counters $FERRY_TEST_REDIS"
	node_start "$dir" "$extra"; port=$PORT; pid=$PID
	tenant_setup "$dir/ferry.conf"
	t0=$(now)
	run_source "$port" "$dir/source.log" || { cat "$dir/source.log" >&2; die "smtp-source failed"; }
	t1=$(now)
	[ "$(ferry_queue_count "$dir")" -eq "$MSGS" ] || die "$2: $(ferry_queue_count "$dir") of $MSGS queued"
	stop_pid "$pid" ferryd
	rate "$MSGS" "$t0" "$t1"
}

# two_nodes RUN CACHE: both nodes loaded at once, state_cache CACHE (on or
# off); prints the aggregate rate
two_nodes() {
	local a=$BASE/cluster2.$1.$2.a b=$BASE/cluster2.$1.$2.b extra pa pb ida idb t0 t1 half=$((MSGS / 2)) ok
	servers_start
	extra="state_db $FERRY_TEST_PG
counters $FERRY_TEST_REDIS
state_cache $2"
	node_start "$a" "$extra
node_name a"; pa=$PORT; ida=$PID
	node_start "$b" "$extra
node_name b"; pb=$PORT; idb=$PID
	tenant_setup "$a/ferry.conf"
	t0=$(now)
	run_source "$pa" "$a/source.log" b@dst.test "$half" & local s1=$!
	run_source "$pb" "$b/source.log" b@dst.test "$half" & local s2=$!
	ok=0; wait "$s1" || ok=1; wait "$s2" || ok=1
	t1=$(now)
	[ "$ok" -eq 0 ] || { cat "$a/source.log" "$b/source.log" >&2; die "smtp-source failed"; }
	local q=$(($(ferry_queue_count "$a") + $(ferry_queue_count "$b")))
	[ "$q" -eq $((half * 2)) ] || die "cluster2: $q of $((half * 2)) queued"
	stop_pid "$ida" ferryd; stop_pid "$idb" ferryd
	servers_stop
	rate $((half * 2)) "$t0" "$t1"
}

S=(); R=(); C_on=(); C_off=()
if [ "$CLUSTER_ONLY" != 1 ]; then
	servers_start   # Redis for redis1 (the cluster run starts its own pair)
	for r in $(seq 1 "$REPEATS"); do
		S+=("$(one_node "$r" single)")
		R+=("$(one_node "$r" redis1)")
		log "run $r: single ${S[-1]} msg/s, redis counters ${R[-1]} msg/s"
	done
	servers_stop
fi
for r in $(seq 1 "$REPEATS"); do
	for m in "${CACHE_MODES[@]}"; do
		v=$(two_nodes "$r" "$m")
		if [ "$m" = on ]; then C_on+=("$v"); else C_off+=("$v"); fi
		log "run $r: two nodes on PostgreSQL+Redis, state_cache $m: $v msg/s"
	done
done
printf 'accept rate of tenant mail, %s messages of %s bytes, %s sessions, median of %s\n' \
	"$MSGS" "$SIZE" "$SESS" "$REPEATS"
s=
if [ "$CLUSTER_ONLY" != 1 ]; then
	s=$(printf '%s\n' "${S[@]}" | median); rr=$(printf '%s\n' "${R[@]}" | median)
	printf '  one node, SQLite state, local counters     %6s msg/s\n' "$s"
	printf '  one node, SQLite state, Redis counters     %6s msg/s   ratio %.2f (the cost of shared counters)\n' \
		"$rr" "$(awk -v a="$rr" -v b="$s" 'BEGIN { print a / b }')"
fi
for m in "${CACHE_MODES[@]}"; do
	if [ "$m" = on ]; then c=$(printf '%s\n' "${C_on[@]}" | median); else c=$(printf '%s\n' "${C_off[@]}" | median); fi
	printf '  two nodes, PostgreSQL state, Redis counters, state_cache %-3s %6s msg/s' "$m" "$c"
	[ -n "$s" ] && printf '   ratio %.2f (against one SQLite node)' "$(awk -v a="$c" -v b="$s" 'BEGIN { print a / b }')"
	printf '\n'
done
if [ "${#CACHE_MODES[@]}" -eq 2 ]; then
	printf '  state cache on / off: %.2f\n' "$(awk -v a="$(printf '%s\n' "${C_on[@]}" | median)" \
		-v b="$(printf '%s\n' "${C_off[@]}" | median)" 'BEGIN { print a / b }')"
fi
