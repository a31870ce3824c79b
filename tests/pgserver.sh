#!/usr/bin/env bash
# pgserver.sh - a throwaway PostgreSQL 15 (and optionally redis-server) on
# loopback for C unit tests and bench scripts; see tests/integration/pgserver.py.
#   tests/pgserver.sh run [--redis] -- CMD ARGS...   CMD with FERRY_TEST_PG=conninfo set
#   eval "$(tests/pgserver.sh start [--redis])"       ... tests/pgserver.sh stop "$FERRY_TEST_PG_DIR"
exec /usr/bin/python3 "$(dirname "$0")/integration/pgserver.py" "$@"
