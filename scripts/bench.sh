#!/usr/bin/env bash
# bench.sh runs `pago bench wallet` against a real pago on a fresh PostgreSQL
# database and Redis, then `pago verify`; then `pago bench confirm` (card
# confirms against a standalone PG sandbox that answers each in 1 s), then
# `pago verify` again; and always stops the servers and drops the database.
# Used by `make bench`; extra arguments go to `pago bench wallet`
# (BENCH_CONFIRM_FLAGS to `pago bench confirm`, e.g. --report-only).
#
#   BENCH_PG_ADMIN  admin connection for CREATE/DROP DATABASE
#                   (default postgres://postgres@127.0.0.1:5432/test)
#   BENCH_REDIS_URL default redis://127.0.0.1:6379/0
#   BENCH_ADDR      default 127.0.0.1:18080
set -euo pipefail

PAGO=${PAGO:-bin/pago}
ADMIN=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}
ADDR=${BENCH_ADDR:-127.0.0.1:18080}
PG_ADDR=${BENCH_PG_ADDR:-127.0.0.1:18090}
RUN=$(openssl rand -hex 4)
DB=pago_bench_$RUN
WORK=$(mktemp -d)
SERVER_PID=
SANDBOX_PID=

cleanup() {
	status=$?
	for pid in $SERVER_PID $SANDBOX_PID; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	if [ "$status" -ne 0 ] && [ -s "$WORK/server.log" ]; then
		echo "--- server log (last 20 lines) ---" >&2
		tail -n 20 "$WORK/server.log" >&2
	fi
	psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null ||
		echo "bench: could not drop database $DB" >&2
	rm -rf "$WORK"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB" >/dev/null

# The server and the bench read the same environment: the bench signs tokens
# with this secret and measures the raw limit on this database.
export PAGO_DATABASE_URL="${ADMIN%/*}/$DB?sslmode=disable"
export PAGO_REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/0}
export PAGO_REDIS_PREFIX="pagobench:$RUN:"
export PAGO_JWT_SECRET=$(openssl rand -hex 32)
export PAGO_LOG_LEVEL=warn
export PAGO_WALLET_LIMIT=10000000
# The bench holds every order it will pay open up front.
export PAGO_MAX_OPEN_ORDERS=10000000
export PAGO_MAX_RESERVED_UNITS=10000000
export PAGO_DATA_DIR="$WORK/data"
export PAGO_ADDR=$ADDR
# Card payments go to a standalone sandbox, whose latency the confirm bench
# sets; confirms wait for it up to PAGO_PG_TIMEOUT (the default, 15 s).
export PAGO_PG_BASE_URL="http://$PG_ADDR"
# HTTP/2, as pago speaks to the PG over https: 1,000 confirms at once share
# a few connections rather than dialling 1,000.
export PAGO_PG_H2C=true

"$PAGO" sandbox --addr "$PG_ADDR" --webhook-url "http://$ADDR/webhooks/pg" >"$WORK/sandbox.log" 2>&1 &
SANDBOX_PID=$!
"$PAGO" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

ready=
for _ in $(seq 1 100); do
	if curl -fsS -o /dev/null "http://$ADDR/readyz" 2>/dev/null; then
		ready=1
		break
	fi
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then
		echo "bench: pago serve exited before it was ready" >&2
		exit 1
	fi
	sleep 0.2
done
if [ -z "$ready" ]; then
	echo "bench: pago serve was not ready on $ADDR within 20s" >&2
	exit 1
fi

# A bench below its target fails the run, but only after pago verify has
# looked at what it left and the other bench has run.
failed=0
"$PAGO" bench wallet --url "http://$ADDR" "$@" || failed=1
"$PAGO" verify
# shellcheck disable=SC2086 # BENCH_CONFIRM_FLAGS is a list of flags
"$PAGO" bench confirm --url "http://$ADDR" --pg "http://$PG_ADDR" --pid "$SERVER_PID" ${BENCH_CONFIRM_FLAGS:-} || failed=1
"$PAGO" verify
exit "$failed"
