#!/bin/sh
# cluster-up.sh - a local three-node ferry cluster on loopback, for trying
# cluster mode (docs/cluster.md): one PostgreSQL and one redis-server
# (throwaway, started by tests/integration/pgserver.py: fsync off, trust
# auth on 127.0.0.1 only), and three ferryd nodes sharing them, each with
# its own spool and ports:
#
#   node1  mx 127.0.0.1:2521  submission 127.0.0.1:5871  http 127.0.0.1:8021
#   node2  mx 127.0.0.1:2522  submission 127.0.0.1:5872  http 127.0.0.1:8022
#   node3  mx 127.0.0.1:2523  submission 127.0.0.1:5873  http 127.0.0.1:8023
#
# Usage: scripts/cluster-up.sh [up|down|status]     (default: up)
# FERRY_CLUSTER_DIR (default ./var/cluster) holds the nodes' configurations,
# spools and logs; FERRY_BIN (default build/release) the binaries, built
# with `make build` when missing. Nothing listens beyond 127.0.0.1.
set -eu

cd "$(dirname "$0")/.."
DIR=${FERRY_CLUSTER_DIR:-./var/cluster}
BIN=${FERRY_BIN:-build/release}
ACTION=${1:-up}

node_conf() {  # node_conf N: the configuration of node N
	cat <<EOF
# node$1 of the cluster-up.sh demo
node_name node$1
spool_dir $ABS/node$1/spool
log_file $ABS/node$1/ferryd.log
state_db $FERRY_TEST_PG
counters $FERRY_TEST_REDIS
counters_failure closed
dkim_key_dir $ABS/dkim
listen mx 127.0.0.1:252$1
listen submission 127.0.0.1:587$1
listen http 127.0.0.1:802$1
http_www_dir $PWD/dist/www
domain example.test
mailbox postmaster@example.test
EOF
}

up() {
	if [ -f "$DIR/servers.env" ]; then
		echo "cluster-up: $DIR already holds a cluster; run '$0 down' first" >&2
		exit 1
	fi
	[ -x "$BIN/ferryd" ] || make build
	mkdir -p "$DIR/dkim"
	ABS=$(cd "$DIR" && pwd)
	chmod 0755 "$DIR"
	python3 tests/integration/pgserver.py start --redis >"$DIR/servers.env"
	. "$DIR/servers.env"
	for n in 1 2 3; do
		mkdir -p "$DIR/node$n"
		node_conf $n >"$DIR/node$n/ferry.conf"
		"$BIN/ferryd" -c "$DIR/node$n/ferry.conf" >"$DIR/node$n/stdout" 2>&1 &
		echo $! >"$DIR/node$n/pid"
	done
	# the first node applies the schema; wait for every node's heartbeat
	for _ in $(seq 1 100); do
		up_nodes=$("$BIN/ferryctl" -c "$DIR/node1/ferry.conf" cluster status 2>/dev/null | awk -F "\t" '$2 == "up"' | wc -l)
		[ "$up_nodes" -ge 3 ] && break
		sleep 0.2
	done
	"$BIN/ferryctl" -c "$DIR/node1/ferry.conf" cluster status
	cat <<EOF

Three nodes share PostgreSQL ($FERRY_TEST_PG) and Redis ($FERRY_TEST_REDIS).
Try:
  $BIN/ferryctl -c $DIR/node1/ferry.conf tenant add acme
  $BIN/ferryctl -c $DIR/node1/ferry.conf tenant limit acme --per-hour 100
  $BIN/ferryctl -c $DIR/node1/ferry.conf domain add acme acme.example
  $BIN/ferryctl -c $DIR/node2/ferry.conf key create acme   # any node sees it
  swaks --server 127.0.0.1:5873 -tls --auth-user acme --auth-password KEY \\
        --from news@acme.example --to someone@example.org
Stop it with: $0 down
EOF
}

down() {
	for n in 1 2 3; do
		if [ -f "$DIR/node$n/pid" ]; then
			kill "$(cat "$DIR/node$n/pid")" 2>/dev/null || true
			rm -f "$DIR/node$n/pid"
		fi
	done
	if [ -f "$DIR/servers.env" ]; then
		. "$DIR/servers.env"
		sleep 1
		python3 tests/integration/pgserver.py stop "$FERRY_TEST_PG_DIR"
		rm -f "$DIR/servers.env"
	fi
	echo "cluster-up: stopped (spools kept in $DIR)"
}

case "$ACTION" in
up) up ;;
down) down ;;
status) "$BIN/ferryctl" -c "$DIR/node1/ferry.conf" cluster status ;;
*) echo "usage: $0 [up|down|status]" >&2; exit 2 ;;
esac
