#!/usr/bin/env bash
# state_cache.sh - what the state cache in Redis (src/state/state_cache.h)
# saves per lookup: the RCPT-time suppression lookup (state_suppression_get)
# against PostgreSQL alone, and through the cache in Redis (after the first
# pass every lookup is a hit), on one connection as one ferryd thread makes
# them; LOOKUPS random lookups among COUNT suppressed and COUNT unsuppressed
# addresses. PostgreSQL and Redis are the tests' throwaway servers
# (tests/integration/pgserver.py) on loopback, on this machine's cores.
# Usage: bash bench/state_cache.sh   (COUNT, LOOKUPS, REPEATS)
set -u -o pipefail
BENCH_NAME=state_cache
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COUNT=${COUNT:-1000}
LOOKUPS=${LOOKUPS:-20000}
bench_init
FERRYCTL=${FERRYCTL:-$(dirname "$FERRYD")/ferryctl}
LOOKUP=${LOOKUP:-$(dirname "$FERRYD")/bench_suppress_lookup}
SRC_DIR=$(cd "$BENCH_DIR/.." && pwd)
[ -x "$LOOKUP" ] || die "no $LOOKUP: run 'make build' first"
trap '[ -n "${FERRY_TEST_PG_DIR:-}" ] && python3 "$SRC_DIR/tests/integration/pgserver.py" stop "$FERRY_TEST_PG_DIR"; bench_teardown' EXIT

python3 "$SRC_DIR/tests/integration/pgserver.py" start --redis >"$BASE/servers.env" ||
	die "cannot start PostgreSQL and Redis"
# shellcheck disable=SC1091
. "$BASE/servers.env"
conf=$BASE/ferry.conf
printf 'spool_dir %s/spool\nstate_db %s\n' "$BASE" "$FERRY_TEST_PG" >"$conf"
mkdir -p "$BASE/spool"
"$FERRYCTL" -c "$conf" tenant add bench >"$BASE/ctl.log" 2>&1 || { cat "$BASE/ctl.log" >&2; die "tenant add failed"; }
{ echo "address,reason"; for i in $(seq 0 $((COUNT - 1))); do echo "u$i@d$((i % 1000)).example,manual"; done; } >"$BASE/list.csv"
"$FERRYCTL" -c "$conf" suppression import bench "$BASE/list.csv" >>"$BASE/ctl.log" 2>&1 ||
	{ cat "$BASE/ctl.log" >&2; die "suppression import failed"; }
tid=$(psql "$FERRY_TEST_PG" -At -c "SELECT id FROM tenants WHERE name = 'bench'") || die "no tenant id"

# us/lookup of hits and misses, one run (FERRY_BENCH_REDIS set or not)
per_lookup() {
	local out
	out=$("$LOOKUP" "$FERRY_TEST_PG" "$tid" "$COUNT" "$LOOKUPS" "$1") || die "lookup failed: $out"
	awk '/^hits/ { h = $(NF-1) } /^misses/ { m = $(NF-1) } END { printf "%s %s\n", h, m }' <<<"$out"
}
PH=(); PM=(); CH=(); CM=()
for r in $(seq 1 "$REPEATS"); do
	read -r h m < <(per_lookup "$r"); PH+=("$h"); PM+=("$m")
	read -r h m < <(FERRY_BENCH_REDIS=$FERRY_TEST_REDIS per_lookup "$r"); CH+=("$h"); CM+=("$m")
	log "run $r: PostgreSQL ${PH[-1]}/${PM[-1]} us, cache ${CH[-1]}/${CM[-1]} us (suppressed/not)"
done
med() { printf '%s\n' "$@" | median; }
printf 'suppression lookup at RCPT, %s lookups among %s addresses, us per lookup, median of %s\n' \
	"$LOOKUPS" "$COUNT" "$REPEATS"
printf '  PostgreSQL only (state_cache off)   suppressed %7s   not %7s\n' "$(med "${PH[@]}")" "$(med "${PM[@]}")"
printf '  through the cache in Redis          suppressed %7s   not %7s\n' "$(med "${CH[@]}")" "$(med "${CM[@]}")"
