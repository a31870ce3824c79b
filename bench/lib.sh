# shellcheck shell=bash
# lib.sh - shared pieces of ferry's benchmarks (sourced by every bench/*.sh).
#
# Starts and stops the peers a benchmark measures, all on loopback, all under
# one throwaway directory $BASE: ferryd (release build) with a generated
# configuration, a private Postfix instance (its own main.cf, master.cf,
# queue and log; the system's Postfix instance is never touched) and
# smtp-sink. Everything started here is stopped by PID on exit
# (bench_teardown, installed as the EXIT trap by bench_init).
#
# Trusts: nothing from the network; needs root (Postfix's master and ferryd
# bind as root, then drop privileges) and Debian's postfix package, which
# ships smtp-source and smtp-sink.

# ---------------------------------------------------------------- tunables
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FERRY_ROOT=$(cd "$BENCH_DIR/.." && pwd)
FERRYD=${FERRYD:-$FERRY_ROOT/build/release/ferryd}
MSGS=${MSGS:-20000}
SESS=${SESS:-20}
SIZE=${SIZE:-2048}
REPEATS=${REPEATS:-3}
TIMEOUT=${TIMEOUT:-600}
KEEP=${KEEP:-0}
SRC_OPTS=${SRC_OPTS:-}
BASE=${BASE:-${TMPDIR:-/tmp}/ferry-bench.$$}

# PIDs of what this script started; empty when not running.
# shellcheck disable=SC2034 # PORT and BENCH_NAME are shared with the callers
PORT=
FERRY_PID=
PF_MASTER_PID=
PF_CONF=
PF_SPOOL=
SINK_PID=
OTHER_PIDS=
PORTS_TAKEN=" "

# ---------------------------------------------------------------- helpers
log() { printf '%s\n' "$*" >&2; }
die() { log "$BENCH_NAME: $*"; exit 1; }
now() { date +%s.%N; }
# rate N T0 T1: N / (T1 - T0), rounded
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# median of the numbers on stdin, one per line
median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit 1
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# port_busy PORT: some socket, listening or connected, has PORT as its own
port_busy() { [ -n "$(ss -Htan "sport = :$1")" ]; }

# free_port: sets PORT to an unused TCP port on loopback, not handed out
# before in this run (no subshell, so PORTS_TAKEN persists). Ports come from
# below the kernel's ephemeral range (ip_local_port_range): a port in it can
# be taken between the check and the bind by one of the thousands of
# outbound connections a run makes (smtp-sink then fails with "Address
# already in use").
free_port() {
	local p lo _
	lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	[ "${lo:-0}" -gt 12000 ] || lo=60000
	for _ in $(seq 1 200); do
		p=$(( 10000 + RANDOM % (lo - 10000) ))
		case "$PORTS_TAKEN" in *" $p "*) continue ;; esac
		port_busy "$p" && continue
		PORTS_TAKEN="$PORTS_TAKEN$p "
		# shellcheck disable=SC2034 # read by the caller
		PORT=$p
		return 0
	done
	die "no free port found"
}

# wait_listen PORT PID WHAT [LOG]: wait until PORT listens, failing (and
# showing LOG) if PID dies
wait_listen() {
	local _
	for _ in $(seq 1 100); do
		port_busy "$1" && return 0
		if ! kill -0 "$2" 2>/dev/null; then
			[ -n "${4:-}" ] && cat "$4" >&2
			die "$3 exited during start-up"
		fi
		sleep 0.1
	done
	die "$3 does not listen on 127.0.0.1:$1"
}

# stop_pid PID WHAT: SIGTERM, wait up to 30 s, then SIGKILL
stop_pid() {
	local _
	if [ -z "$1" ] || ! kill -0 "$1" 2>/dev/null; then return 0; fi
	kill "$1" 2>/dev/null
	for _ in $(seq 1 300); do
		kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
		sleep 0.1
	done
	log "$BENCH_NAME: $2 (pid $1) ignored SIGTERM; killing it"
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# run_source PORT LOG [RCPT [COUNT]]: the load, COUNT (default MSGS)
# messages to RCPT (default b@dst.test); prints nothing, fails if
# smtp-source fails
run_source() {
	# shellcheck disable=SC2086 # SRC_OPTS is split on purpose
	smtp-source $SRC_OPTS -s "$SESS" -m "${4:-$MSGS}" -l "$SIZE" \
		-f a@src.test -t "${3:-b@dst.test}" 127.0.0.1:"$1" >"$2" 2>&1
}

# ---------------------------------------------------------------- waiting
# wait_drained SINKLOG WHAT QUEUECMD...: wait until the sink has counted
# MSGS messages and QUEUECMD prints 0; sets T_END. Logs progress every 10 s.
# shellcheck disable=SC2034 # T_END is read by the caller
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

# ---------------------------------------------------------------- smtp-sink
# smtp-sink serves at most SINK_MAXCONN sessions at once (its -m; 256 is its
# own default) and leaves the rest in a listen queue of SINK_BACKLOG; a
# benchmark that opens more connections than that must raise both.
SINK_MAXCONN=${SINK_MAXCONN:-256}
SINK_BACKLOG=${SINK_BACKLOG:-1000}
SINK_PIDS=

# sink_start PORT LOG [ADDR [OPTION...]]: smtp-sink on ADDR:PORT (default
# 127.0.0.1), running count (-c) to LOG, OPTIONs passed on (e.g. -w 1).
# Several may run at once; SINK_PID is the last one started.
sink_start() {
	local port=$1 log=$2 addr=${3:-127.0.0.1}
	shift 2
	[ $# -gt 0 ] && shift
	smtp-sink -c -u nobody -m "$SINK_MAXCONN" "$@" "$addr:$port" "$SINK_BACKLOG" >"$log" 2>&1 &
	SINK_PID=$!
	SINK_PIDS="$SINK_PIDS $SINK_PID"
	wait_listen "$port" "$SINK_PID" smtp-sink "$log"
}
# sink_stop: stops every smtp-sink this script started
sink_stop() {
	local p
	for p in $SINK_PIDS; do stop_pid "$p" smtp-sink; done
	SINK_PIDS=
	SINK_PID=
}
# sink_count LOG: messages smtp-sink has received (the last mesg=N of -c)
sink_count() {
	local c
	c=$(tail -c 256 "$1" 2>/dev/null | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -n 1)
	echo "${c:-0}"
}

# ---------------------------------------------------------------- ferryd
# ferry_start MODE DIR PORT [SINK_PORT]: ferryd with its spool and log in DIR.
# MODE accept: delivery off, mail stays in DIR/spool/queue.
# MODE relay: delivery on, every domain routed to smtp-sink on SINK_PORT
# (or, when FERRY_ROUTES is set, routed by its lines instead) with the
# FERRY_* shaping settings below.
# MODE held: relay's configuration with delivery off, until ferry_release.
ferry_start() {
	local mode=$1 dir=$2 port=$3 sink=${4:-}
	mkdir -p "$dir" || die "mkdir $dir failed"
	# ferryd drops root: it must still reach its files by path
	chmod 755 "$dir"
	{
		echo "# generated by bench/$BENCH_NAME.sh"
		echo "hostname ferry.bench.test"
		echo "spool_dir $dir/spool"
		echo "log_file $dir/ferryd.log"
		echo "listen mx 127.0.0.1:$port${FERRY_LISTEN_OPTS:+ $FERRY_LISTEN_OPTS}"
		echo "domain ferry.bench.test"
		echo "relay_networks 127.0.0.0/8"
		echo "workers $FERRY_WORKERS"
		# never the machine's resolver; port 9 answers nothing
		echo "dns_servers 127.0.0.1:9"
		if [ "$mode" = relay ] || [ "$mode" = held ]; then
			if [ "$mode" = held ]; then echo "delivery off"; else echo "delivery on"; fi
			if [ -n "$FERRY_ROUTES" ]; then
				printf '%s\n' "$FERRY_ROUTES"
			else
				echo "route * smtp:127.0.0.1:$sink"
			fi
			echo "smtp_tls none"
			# unset: ferryd's own default (the engine's, whichever it is)
			[ -n "$FERRY_DELIVERY_THREADS" ] && echo "delivery_threads $FERRY_DELIVERY_THREADS"
			[ -n "$FERRY_MAX_INFLIGHT" ] && echo "delivery_max_inflight $FERRY_MAX_INFLIGHT"
			echo "destination_concurrency $FERRY_DEST_CONC"
			echo "destination_msgs_per_conn $FERRY_MSGS_PER_CONN"
			echo "destination_rate $FERRY_DEST_RATE"
		else
			echo "delivery off"
		fi
		[ -n "$FERRY_CONF_EXTRA" ] && printf '%s\n' "$FERRY_CONF_EXTRA"
	} >"$dir/ferry.conf"
	"$FERRYD" -t -c "$dir/ferry.conf" >"$dir/check.log" 2>&1 ||
		{ cat "$dir/check.log" >&2; die "ferryd -t refused $dir/ferry.conf"; }
	"$FERRYD" -c "$dir/ferry.conf" >"$dir/stderr" 2>&1 &
	FERRY_PID=$!
	wait_listen "$port" "$FERRY_PID" ferryd "$dir/stderr"
}
ferry_stop() { stop_pid "$FERRY_PID" ferryd; FERRY_PID=; }
# ferry_release DIR: a ferryd started held delivers from now on: its
# configuration is rewritten with delivery on and reloaded (SIGHUP); fails
# if the reload is not logged within 10 s. ferryd's queue manager reads the
# setting at its next dispatch round (at least once a second).
ferry_release() {
	local dir=$1 _
	sed -i 's/^delivery off$/delivery on/' "$dir/ferry.conf" || die "cannot rewrite $dir/ferry.conf"
	kill -HUP "$FERRY_PID" || die "ferryd: SIGHUP failed"
	for _ in $(seq 1 200); do
		grep -q 'event=reloaded' "$dir/ferryd.log" 2>/dev/null && return 0
		grep -q 'event=reload-failed' "$dir/ferryd.log" 2>/dev/null && break
		sleep 0.05
	done
	die "ferryd did not reload $dir/ferry.conf (see $dir/ferryd.log)"
}
# ferry_cpu_ms: CPU time (user + system, all threads) ferryd has used so far
ferry_cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.0f", ($12 + $13) * 1000 / hz }' \
		"/proc/$FERRY_PID/stat" 2>/dev/null
}
# ferry_rss_peak_mb: ferryd's peak resident memory so far (VmHWM), in MB
ferry_rss_peak_mb() {
	awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$FERRY_PID/status" 2>/dev/null
}
# ferry_queue_count DIR: accepted messages not yet delivered
ferry_queue_count() { find "$1/spool/queue" -type f 2>/dev/null | wc -l; }

# ferry_knows LINE: whether this ferryd accepts the configuration line LINE.
# The delivery engine being rewritten brings options (delivery_max_inflight)
# that older binaries refuse; a benchmark asks rather than guessing from a
# version. `ferryd -t` only reads the file: it creates nothing and binds
# nothing.
ferry_knows() {
	local d rc
	d=$(mktemp -d) || die "mktemp failed"
	printf '%s\n' "hostname probe.bench.test" "spool_dir $d/spool" "log_file $d/log" \
		"listen mx 127.0.0.1:9" "domain probe.bench.test" "$1" >"$d/ferry.conf"
	"$FERRYD" -t -c "$d/ferry.conf" >/dev/null 2>&1
	rc=$?
	rm -rf "$d"
	return "$rc"
}

# ferry_shaping_desc: the relay-mode delivery settings, for a log line
ferry_shaping_desc() {
	printf '%s' "workers $FERRY_WORKERS (0: one per core)," \
		" delivery_threads ${FERRY_DELIVERY_THREADS:-default}," \
		" delivery_max_inflight ${FERRY_MAX_INFLIGHT:-default}," \
		" destination_concurrency $FERRY_DEST_CONC, destination_msgs_per_conn $FERRY_MSGS_PER_CONN," \
		" destination_rate $FERRY_DEST_RATE (0: unlimited), smtp_tls none" \
		"${FERRY_CONF_EXTRA:+, $(printf '%s' "$FERRY_CONF_EXTRA" | tr '\n' ',' | sed 's/,/, /g')}"
}

# FERRY_* defaults (relay mode); see bench/README.md. An empty
# FERRY_DELIVERY_THREADS or FERRY_MAX_INFLIGHT leaves the option out.
FERRY_WORKERS=${FERRY_WORKERS:-0}
FERRY_DELIVERY_THREADS=${FERRY_DELIVERY_THREADS:-}
FERRY_MAX_INFLIGHT=${FERRY_MAX_INFLIGHT:-}
FERRY_DEST_CONC=${FERRY_DEST_CONC:-20}
FERRY_MSGS_PER_CONN=${FERRY_MSGS_PER_CONN:-10000}
FERRY_DEST_RATE=${FERRY_DEST_RATE:-0}
FERRY_CONF_EXTRA=${FERRY_CONF_EXTRA:-}
FERRY_LISTEN_OPTS=${FERRY_LISTEN_OPTS:-}   # options of the listen line (milters=...)
FERRY_ROUTES=${FERRY_ROUTES:-}

# ---------------------------------------------------------------- Postfix
PF_CONC=${PF_CONC:-20}
PF_MAIN_CF_EXTRA=${PF_MAIN_CF_EXTRA:-}

# pf_start MODE DIR PORT [SINK_PORT]: a private Postfix instance in DIR.
# MODE accept: every message is put on hold, so mail stays in DIR/spool/hold
# (what ferryd does with 'delivery off').
# MODE relay: relayhost [127.0.0.1]:SINK_PORT, PF_CONC connections at once.
# MODE held: relay's configuration, every message put on hold as in accept
# mode, until pf_release.
pf_start() {
	local mode=$1 dir=$2 port=$3 sink=${4:-0} line _
	PF_CONF=$dir/etc
	PF_SPOOL=$dir/spool
	mkdir -p "$PF_CONF" "$PF_SPOOL" "$dir/data" || die "mkdir $dir failed"
	chmod 755 "$dir"
	chown postfix: "$dir/data" || die "chown postfix $dir/data failed"
	cat >"$PF_CONF/main.cf" <<EOF
# throwaway instance for bench/$BENCH_NAME.sh
compatibility_level = 3.6
queue_directory = $PF_SPOOL
data_directory = $dir/data
myhostname = postfix.bench.test
mydomain = bench.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$sink
smtp_dns_support_level = disabled
smtp_host_lookup = native
default_destination_concurrency_limit = $PF_CONC
smtp_destination_concurrency_limit = $PF_CONC
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:local delivery is disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtputf8_enable = no
biff = no
append_dot_mydomain = no
maillog_file = $dir/maillog
maillog_file_prefixes = /var, /dev/stdout, $dir
EOF
	# master.cf: only the services this instance uses, none chrooted
	cat >"$PF_CONF/master.cf" <<EOF
# service         type  private unpriv chroot wakeup maxproc command
127.0.0.1:$port inet n       -      n      -      -       smtpd
pickup            unix  n       -      n      60     1       pickup
cleanup           unix  n       -      n      -      0       cleanup
qmgr              unix  n       -      n      300    1       qmgr
rewrite           unix  -       -      n      -      -       trivial-rewrite
bounce            unix  -       -      n      -      0       bounce
defer             unix  -       -      n      -      0       bounce
trace             unix  -       -      n      -      0       bounce
verify            unix  -       -      n      -      1       verify
flush             unix  n       -      n      1000?  0       flush
proxymap          unix  -       -      n      -      -       proxymap
proxywrite        unix  -       -      n      -      1       proxymap
smtp              unix  -       -      n      -      -       smtp
relay             unix  -       -      n      -      -       smtp
showq             unix  n       -      n      -      -       showq
error             unix  -       -      n      -      -       error
retry             unix  -       -      n      -      -       error
discard           unix  -       -      n      -      -       discard
anvil             unix  -       -      n      -      1       anvil
scache            unix  -       -      n      -      1       scache
postlog           unix-dgram n  -      n      -      1       postlogd
EOF
	if [ "$mode" = accept ] || [ "$mode" = held ]; then
		# Every message goes to the hold queue: cleanup writes and fsyncs
		# it as usual, but the queue manager leaves it alone. (Disabling
		# the queue manager instead makes cleanup warn and slows Postfix
		# down twentyfold.)
		postconf -c "$PF_CONF" -e \
			"smtpd_data_restrictions = check_client_access static:HOLD" ||
			die "postconf failed"
	fi
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		postconf -c "$PF_CONF" -e "$line" || die "postconf -e '$line' failed"
	done <<<"$PF_MAIN_CF_EXTRA"
	postfix -c "$PF_CONF" check >"$dir/check.log" 2>&1 ||
		{ cat "$dir/check.log" >&2; die "postfix check failed"; }
	postfix -c "$PF_CONF" start >"$dir/start.log" 2>&1 ||
		{ cat "$dir/start.log" >&2; die "postfix start failed"; }
	PF_MASTER_PID=$(awk '{ print $1; exit }' "$PF_SPOOL/pid/master.pid" 2>/dev/null)
	if [ -z "$PF_MASTER_PID" ] || ! kill -0 "$PF_MASTER_PID" 2>/dev/null; then
		PF_MASTER_PID=
		die "postfix: no master pid"
	fi
	wait_listen "$port" "$PF_MASTER_PID" "postfix master"
}

# pf_stop: stop the instance this script started (never the system's)
pf_stop() {
	local pids p _
	if [ -z "$PF_MASTER_PID" ] || ! kill -0 "$PF_MASTER_PID" 2>/dev/null; then
		PF_MASTER_PID=
		return 0
	fi
	pids="$PF_MASTER_PID $(ps -o pid= --ppid "$PF_MASTER_PID" | tr '\n' ' ')"
	postfix -c "$PF_CONF" stop >/dev/null 2>&1 || kill "$PF_MASTER_PID" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$PF_MASTER_PID" 2>/dev/null || break
		sleep 0.1
	done
	sleep 0.3
	for p in $pids; do
		if kill -0 "$p" 2>/dev/null; then
			log "$BENCH_NAME: postfix pid $p still alive after stop; killing it"
			kill -9 "$p" 2>/dev/null
		fi
	done
	PF_MASTER_PID=
}

# pf_queue_count: messages anywhere in the instance's queue
pf_queue_count() {
	find "$PF_SPOOL/maildrop" "$PF_SPOOL/incoming" "$PF_SPOOL/active" \
		"$PF_SPOOL/deferred" "$PF_SPOOL/hold" -type f 2>/dev/null | wc -l
}
pf_version() { postconf -d -h mail_version 2>/dev/null; }
# pf_hold_count: messages in the instance's hold queue
pf_hold_count() { find "$PF_SPOOL/hold" -type f 2>/dev/null | wc -l; }
# pf_release: an instance started held delivers from now on: its held mail
# moves to the deferred queue (postsuper -H) and the queue manager is told
# to deliver all deferred mail now (postqueue -f). New mail would still be
# held: the HOLD restriction stays.
pf_release() {
	postsuper -c "$PF_CONF" -H ALL 2>/dev/null || die "postsuper -H ALL failed"
	postqueue -c "$PF_CONF" -f || die "postqueue -f failed"
}

# wait_count WHAT QUEUECMD...: wait until QUEUECMD prints MSGS (all the
# load is queued); fails after TIMEOUT
wait_count() {
	local what=$1 deadline q
	shift
	deadline=$(($(date +%s) + TIMEOUT))
	while q=$("$@"); [ "$q" -lt "$MSGS" ]; do
		[ "$(date +%s)" -lt "$deadline" ] || die "$what: timeout after ${TIMEOUT}s: $q/$MSGS queued"
		sleep 0.05
	done
}

# ---------------------------------------------------------------- one run
# direct_run RUN [SINK_OPTION...]: smtp-source (SESS sessions, SRC_OPTS)
# straight into a fresh smtp-sink started with SINK_OPTIONs, no relay: the
# ceiling of load generator and receiver; rate to RESULT
# shellcheck disable=SC2034 # RESULT is read by the caller
direct_run() {
	local run=$1 dir=$BASE/direct.$1 t0 t1
	shift
	mkdir -p "$dir"
	free_port
	sink_start "$PORT" "$dir/sink.log" 127.0.0.1 "$@"
	t0=$(now)
	run_source "$PORT" "$dir/source.log" ||
		{ cat "$dir/source.log" >&2; die "run $run: smtp-source against smtp-sink failed"; }
	wait_drained "$dir/sink.log" direct echo 0
	t1=$T_END
	check_sink "$dir/sink.log" direct
	sink_stop
	log "run $run: direct  $(rate "$MSGS" "$t0" "$t1") msg/s ($(secs "$t0" "$t1") s; $SESS sessions${SRC_OPTS:+, smtp-source $SRC_OPTS})"
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(rate "$MSGS" "$t0" "$t1")
}

# RELAY_PREQUEUE=1 (latency.sh's PREQUEUE) makes both relay runs measure
# delivery alone: the relay accepts the whole load with delivery held, and
# the clock starts when delivery is released (ferry_release, pf_release).
RELAY_PREQUEUE=${RELAY_PREQUEUE:-0}

# relay_run_ferry RUN LABEL [SINK_OPTION...]: MSGS messages from smtp-source
# through a fresh ferryd (relay mode) into a fresh smtp-sink started with
# SINK_OPTIONs; rate (msg/s, until the sink has them all and the queue is
# empty) to RESULT, ferryd's peak RSS (MB) to RSS
# shellcheck disable=SC2034 # RESULT and RSS are read by the caller
relay_run_ferry() {
	local run=$1 label=$2 dir port sink t0 t1 ts t2 cpu0 cpu1 held=
	shift 2
	dir=$BASE/$label.$run
	free_port; sink=$PORT
	free_port; port=$PORT
	mkdir -p "$dir"
	sink_start "$sink" "$dir/sink.log" 127.0.0.1 "$@"
	if [ "$RELAY_PREQUEUE" = 1 ]; then
		ferry_start held "$dir" "$port" "$sink"
	else
		ferry_start relay "$dir" "$port" "$sink"
	fi
	cpu0=$(ferry_cpu_ms)
	t0=$(now)
	run_source "$port" "$dir/source.log" ||
		{ cat "$dir/source.log" >&2; die "run $run: smtp-source against ferryd failed"; }
	t1=$(now)
	ts=$t0
	if [ "$RELAY_PREQUEUE" = 1 ]; then
		wait_count "$label" ferry_queue_count "$dir"
		cpu0=$(ferry_cpu_ms)
		ts=$(now)
		ferry_release "$dir"
		held="held $(secs "$t0" "$ts") s before release; "
	fi
	wait_drained "$dir/sink.log" "$label" ferry_queue_count "$dir"
	t2=$T_END
	cpu1=$(ferry_cpu_ms)
	RSS=$(ferry_rss_peak_mb)
	check_sink "$dir/sink.log" "$label"
	ferry_stop
	sink_stop
	! grep -q 'event=dkim-failed' "$dir/ferryd.log" || die "run $run: ferryd could not sign (see $dir/ferryd.log)"
	log "run $run: $label  $(rate "$MSGS" "$ts" "$t2") msg/s ${held:+from release }end-to-end ($(secs "$ts" "$t2") s;" \
		"${held}accept $(rate "$MSGS" "$t0" "$t1") msg/s in $(secs "$t0" "$t1") s;" \
		"ferryd CPU $(awk -v c=$((cpu1 - cpu0)) -v n="$MSGS" 'BEGIN { printf "%.2f", c / n }') ms/msg${held:+ delivering};" \
		"peak RSS ${RSS:-?} MB;" \
		"$(grep -c 'event=delivered' "$dir/ferryd.log") delivered," \
		"$(grep -c 'event=deferred' "$dir/ferryd.log") deferred)"
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(rate "$MSGS" "$ts" "$t2")
}

# relay_run_postfix RUN [SINK_OPTION...]: the same through a fresh Postfix
# instance; rate to RESULT
# shellcheck disable=SC2034 # RESULT is read by the caller
relay_run_postfix() {
	local run=$1 dir port sink t0 t1 ts t2 held=
	shift
	dir=$BASE/${PF_LABEL:-postfix}.$run
	free_port; sink=$PORT
	free_port; port=$PORT
	mkdir -p "$dir"
	sink_start "$sink" "$dir/sink.log" 127.0.0.1 "$@"
	if [ "$RELAY_PREQUEUE" = 1 ]; then
		pf_start held "$dir" "$port" "$sink"
	else
		pf_start relay "$dir" "$port" "$sink"
	fi
	t0=$(now)
	run_source "$port" "$dir/source.log" ||
		{ cat "$dir/source.log" >&2; die "run $run: smtp-source against Postfix failed"; }
	t1=$(now)
	ts=$t0
	if [ "$RELAY_PREQUEUE" = 1 ]; then
		wait_count postfix pf_hold_count
		ts=$(now)
		pf_release
		held="held $(secs "$t0" "$ts") s before release; "
	fi
	wait_drained "$dir/sink.log" postfix pf_queue_count
	t2=$T_END
	check_sink "$dir/sink.log" postfix
	pf_stop
	sink_stop
	log "run $run: ${PF_LABEL:-postfix} $(rate "$MSGS" "$ts" "$t2") msg/s ${held:+from release }end-to-end ($(secs "$ts" "$t2") s;" \
		"${held}accept $(rate "$MSGS" "$t0" "$t1") msg/s in $(secs "$t0" "$t1") s)"
	[ "$KEEP" = 1 ] || rm -rf "$dir"
	RESULT=$(rate "$MSGS" "$ts" "$t2")
}

# ---------------------------------------------------------------- pairs
# A comparison of two runs (A, then B) made in every repeat, reported as the
# medians of each and their ratio B / A, e.g. hol.sh's "alone" and "behind
# slow", tenant.sh's "plain" and "as a tenant". A series is declared once,
# then filled one repeat at a time:
#   pair_series ferryd alone "behind slow" s 2 1
#   for r in ...; do pair_run ferryd "$r" hol_run alone slow ferryd; done
#   pair_report ferryd        # alone: X s, behind slow: Y s, ratio: R
declare -A PAIR_LABEL_A PAIR_LABEL_B PAIR_UNIT PAIR_DIGITS PAIR_RATIO_DIGITS PAIR_PREFIX PAIR_AS PAIR_BS

# pair_series SERIES LABEL_A LABEL_B UNIT DIGITS RATIO_DIGITS [PREFIX]: how
# SERIES is printed (figures with DIGITS decimals, the ratio with
# RATIO_DIGITS; PREFIX, e.g. "postfix ", opens its lines)
pair_series() {
	PAIR_LABEL_A[$1]=$2
	PAIR_LABEL_B[$1]=$3
	PAIR_UNIT[$1]=$4
	PAIR_DIGITS[$1]=$5
	PAIR_RATIO_DIGITS[$1]=$6
	PAIR_PREFIX[$1]=${7:-}
	PAIR_AS[$1]=
	PAIR_BS[$1]=
}

# pair_line SERIES A B: "PREFIXLABEL_A: A UNIT, LABEL_B: B UNIT"
pair_line() {
	printf '%s%s: %.*f %s, %s: %.*f %s' "${PAIR_PREFIX[$1]}" \
		"${PAIR_LABEL_A[$1]}" "${PAIR_DIGITS[$1]}" "$2" "${PAIR_UNIT[$1]}" \
		"${PAIR_LABEL_B[$1]}" "${PAIR_DIGITS[$1]}" "$3" "${PAIR_UNIT[$1]}"
}

# pair_run SERIES RUN FUNC KIND_A KIND_B [ARG...]: one repeat: FUNC RUN KIND_A
# ARG..., then FUNC RUN KIND_B ARG..., each leaving its figure in RESULT;
# records both and prints the repeat's line
# (with PAIR_ALTERNATE=1, even repeats run KIND_B first: on a shared machine
# the second of two back-to-back runs tends to be slower, whatever it is)
pair_run() {
	local series=$1 run=$2 func=$3 kind_a=$4 kind_b=$5 a b
	shift 5
	if [ "${PAIR_ALTERNATE:-0}" = 1 ] && [ $((run % 2)) = 0 ]; then
		"$func" "$run" "$kind_b" "$@"
		b=$RESULT
		"$func" "$run" "$kind_a" "$@"
		a=$RESULT
	else
		"$func" "$run" "$kind_a" "$@"
		a=$RESULT
		"$func" "$run" "$kind_b" "$@"
		b=$RESULT
	fi
	PAIR_AS[$series]="${PAIR_AS[$series]} $a"
	PAIR_BS[$series]="${PAIR_BS[$series]} $b"
	echo "run $run: $(pair_line "$series" "$a" "$b")"
}

# pair_report SERIES: the medians over the repeats and their ratio B / A
pair_report() {
	local a b
	# shellcheck disable=SC2086 # the figures are split on purpose
	a=$(printf '%s\n' ${PAIR_AS[$1]} | median) || die "pair_report $1: no runs"
	# shellcheck disable=SC2086 # the figures are split on purpose
	b=$(printf '%s\n' ${PAIR_BS[$1]} | median) || die "pair_report $1: no runs"
	echo "$(pair_line "$1" "$a" "$b"), ratio: $(awk -v a="$a" -v b="$b" -v d="${PAIR_RATIO_DIGITS[$1]}" \
		'BEGIN { printf "%.*f", d, (a > 0 ? b / a : 0) }')"
}

# ---------------------------------------------------------------- lifecycle
# other_track PID: stop PID (a receiver the script started itself) at exit
other_track() { OTHER_PIDS="$OTHER_PIDS $1"; }
other_stop() {
	local p
	for p in $OTHER_PIDS; do stop_pid "$p" "process"; done
	OTHER_PIDS=
}

# shellcheck disable=SC2317 # invoked through trap
bench_teardown() {
	local rc=$?
	trap - EXIT INT TERM
	sink_stop
	other_stop
	ferry_stop
	pf_stop
	if [ "$KEEP" = 1 ]; then log "$BENCH_NAME: kept $BASE"; else rm -rf "$BASE"; fi
	exit "$rc"
}

# bench_init: check the environment, create $BASE, install the clean-up
bench_init() {
	local c
	[ "$(id -u)" = 0 ] || die "must run as root (ferryd and Postfix bind, then drop privileges)"
	for c in postfix postconf smtp-source smtp-sink ss awk find; do
		command -v "$c" >/dev/null || die "missing command: $c (scripts/setup.sh installs postfix)"
	done
	[ -x "$FERRYD" ] || die "no $FERRYD: run 'make build' first"
	case "$BASE" in /*) ;; *) die "BASE must be an absolute path" ;; esac
	[ -e "$BASE" ] && die "$BASE exists; remove it (or set BASE) first"
	mkdir -p "$BASE" || die "cannot create $BASE"
	chmod 755 "$BASE"
	trap bench_teardown EXIT
	trap 'exit 130' INT TERM
}
