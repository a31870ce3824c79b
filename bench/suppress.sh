#!/usr/bin/env bash
# suppress.sh - what a tenant's suppression list of 1,000,000 addresses costs:
#   1. `ferryctl suppression import` of COUNT rows (CSV) into a running
#      ferryd's state database: rows/s;
#   2. the RCPT-time lookup alone (bench_suppress_lookup: state_suppression_get
#      on one connection, LOOKUPS random hits then LOOKUPS random misses):
#      microseconds per lookup;
#   3. SMTP: smtp-source as the tenant (a connector for 127.0.0.1) sending
#      MSGS messages of RCPTS recipients each, half of them suppressed, to
#      ferryd with an empty list, with a list of just those suppressed
#      recipients (small) and with them among COUNT entries (full): RCPT
#      commands per second and the ratios full/empty and full/small. The
#      tenant is in drop mode (`tenant set --suppressed drop`): smtp-source
#      gives up at the first refused recipient, and a dropped one is looked
#      up exactly as a refused one (only the reply differs: 250, and it is
#      not written to the queue file).
# Usage: bash bench/suppress.sh   (COUNT, LOOKUPS, MSGS, RCPTS, SESS, REPEATS)
set -u -o pipefail
BENCH_NAME=suppress
MSGS=${MSGS:-2000}
SESS=${SESS:-10}
SIZE=${SIZE:-1024}
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COUNT=${COUNT:-1000000}
LOOKUPS=${LOOKUPS:-1000000}
RCPTS=${RCPTS:-100}
FERRYCTL=${FERRYCTL:-$(dirname "$FERRYD")/ferryctl}
LOOKUP=${LOOKUP:-$(dirname "$FERRYD")/bench_suppress_lookup}

bench_init
[ -x "$LOOKUP" ] || die "no $LOOKUP: run 'make build' first"

# The recipients smtp-source makes with -r N (a number prepended to -t's
# address: Nb@dst.test ... 2b@dst.test, then b@dst.test for 1); the odd
# ones are suppressed.
suppressed_rcpts() {
	awk -v n="$RCPTS" 'BEGIN { for (i = 1; i <= n; i += 2)
		printf "%sb@dst.test,hard-bounce,,,550 5.1.1 user unknown\n", i == 1 ? "" : i }'
}

# make_csv FILE KIND: small (the suppressed recipients) or full (the same
# and COUNT synthetic ones, u<I>@d<I % 1000>.example, as the lookup tool expects)
make_csv() {
	{
		echo "address,reason,time,expires,cause"
		suppressed_rcpts
		[ "$2" = full ] && awk -v n="$COUNT" 'BEGIN { for (i = 0; i < n; i++)
			printf "u%d@d%d.example,hard-bounce,,,550 5.1.1 user unknown (invalid-recipient)\n", i, i % 1000 }'
	} >"$1"
}

# ctl DIR ARGS...: ferryctl on DIR's configuration, output to DIR/ctl.log
ctl() {
	local dir=$1
	shift
	"$FERRYCTL" -c "$dir/ferry.conf" "$@" >>"$dir/ctl.log" 2>&1 ||
		{ cat "$dir/ctl.log" >&2; die "ferryctl $* failed"; }
}

IMPORT_RATES=
LOOKUP_LINES=

# smtp_run RUN KIND: one ferryd with the tenant's list empty, small or full;
# RESULT: RCPT commands per second
smtp_run() {
	local dir=$BASE/ferry.$2.$1 port t0 t1 i0 i1 n want id
	free_port
	port=$PORT
	ferry_start accept "$dir" "$port"
	ctl "$dir" tenant add bench
	ctl "$dir" domain add bench src.test
	ctl "$dir" connector add bench local 127.0.0.1/32
	ctl "$dir" tenant limit bench --per-hour 100000000
	ctl "$dir" tenant set bench --suppressed drop
	# a new tenant sending 100,000s of recipients in its first hour is what
	# the spike rule holds for review: not what this measures
	ctl "$dir" tenant set bench --spike-factor 0
	if [ "$2" != empty ]; then
		i0=$(now)
		ctl "$dir" suppression import bench "$BASE/$2.csv"
		i1=$(now)
		if [ "$2" = full ]; then
			IMPORT_RATES="$IMPORT_RATES $(rate "$((COUNT + RCPTS / 2))" "$i0" "$i1")"
			log "run $1: import of $((COUNT + RCPTS / 2)) rows: $(secs "$i0" "$i1") s," \
				"$(rate "$((COUNT + RCPTS / 2))" "$i0" "$i1") rows/s" \
				"(ferryctl: $(grep '^imported' "$dir/ctl.log" | tail -1))"
			id=$("$FERRYCTL" -c "$dir/ferry.conf" tenant show bench | sed -n 's/^tenant: .*(id \([0-9]*\))$/\1/p')
			"$LOOKUP" "$dir/spool/ferry.db" "$id" "$COUNT" "$LOOKUPS" "$1" >"$dir/lookup.log" 2>&1 ||
				{ cat "$dir/lookup.log" >&2; die "run $1: lookup benchmark failed"; }
			LOOKUP_LINES="$LOOKUP_LINES$(tr '\n' ';' <"$dir/lookup.log")"$'\n'
			log "run $1: lookup: $(tr '\n' ' ' <"$dir/lookup.log")"
		fi
	fi
	t0=$(now)
	SRC_OPTS="-r $RCPTS" run_source "$port" "$dir/source.log" ||
		{ cat "$dir/source.log" >&2; die "run $1: smtp-source failed"; }
	t1=$(now)
	n=$(ferry_queue_count "$dir")
	ferry_stop
	[ "$n" -eq "$MSGS" ] || die "run $1 ($2): queue/ holds $n messages, expected $MSGS"
	want=0
	[ "$2" = empty ] || want=$((MSGS * ((RCPTS + 1) / 2)))
	n=$(grep -c "event=suppressed-dropped" "$dir/ferryd.log")
	[ "$n" -eq "$want" ] || die "run $1 ($2): $n recipients dropped as suppressed, expected $want"
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(rate "$((MSGS * RCPTS))" "$t0" "$t1")
}

log "suppress: $COUNT entries, $LOOKUPS lookups; SMTP: $MSGS msgs x $RCPTS rcpts (half suppressed)," \
	"$SESS sessions, $REPEATS run(s), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
make_csv "$BASE/small.csv" small
make_csv "$BASE/full.csv" full
RESULT=
pair_series empty "empty list" "full list" rcpt/s 0 2
pair_series small "small list" "full list" rcpt/s 0 2
for r in $(seq 1 "$REPEATS"); do
	smtp_run "$r" empty
	e=$RESULT
	smtp_run "$r" small
	s=$RESULT
	smtp_run "$r" full
	f=$RESULT
	PAIR_AS[empty]="${PAIR_AS[empty]} $e"
	PAIR_BS[empty]="${PAIR_BS[empty]} $f"
	PAIR_AS[small]="${PAIR_AS[small]} $s"
	PAIR_BS[small]="${PAIR_BS[small]} $f"
	echo "run $r: empty list: $e rcpt/s, small list: $s rcpt/s, $COUNT-entry list: $f rcpt/s"
done
# shellcheck disable=SC2086 # the figures are split on purpose
echo "import: $(printf '%s\n' $IMPORT_RATES | median) rows/s (median of $REPEATS imports of $((COUNT + RCPTS / 2)) rows)"
echo "lookup (state_suppression_get, median of $REPEATS):" \
	"hits $(echo "$LOOKUP_LINES" | sed -n 's/^hits: [^,]*, [^,]*, \([0-9.]*\) us.*/\1/p' | median) us," \
	"misses $(echo "$LOOKUP_LINES" | sed -n 's/.*;misses: [^,]*, [^,]*, \([0-9.]*\) us.*/\1/p' | median) us"
PAIR_LABEL_B[empty]="$COUNT-entry list"
PAIR_LABEL_B[small]="$COUNT-entry list"
pair_report small
pair_report empty
