#!/usr/bin/env bash
# A throwaway PostgreSQL server for the console's database tests: installs it from the OS packages when missing,
# starts a cluster under /tmp on a loopback port (as the user `postgres` when run as root: initdb refuses root),
# creates a database and prints its URL, e.g.
#   export LLMTUNER_TEST_DATABASE_URL=$(bash scripts/ci_services.sh)
# Everything else goes to stderr. Stop it with: bash scripts/ci_services.sh stop
# Environment: PG_PORT (default 54329), PG_DIR (default /tmp/llmtuner-ci-postgres).
set -euo pipefail
PORT=${PG_PORT:-54329}
DIR=${PG_DIR:-/tmp/llmtuner-ci-postgres}
DB=llmtuner_console_test
log() { echo "[ci_services] $*" >&2; }

find_bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$found" ] && command -v pg_ctl >/dev/null 2>&1; then found=$(dirname "$(command -v pg_ctl)"); fi
  echo "$found"
}

BIN=$(find_bin)
if [ -z "$BIN" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "PostgreSQL is not installed and this is not root: install the postgresql package first"
    exit 1
  fi
  log "installing PostgreSQL from the OS packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BIN=$(find_bin)
fi

RUN=()
OWNER=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  OWNER=postgres
  RUN=(runuser -u postgres --)
fi

if [ "${1:-}" = "stop" ]; then
  if [ -f "$DIR/data/PG_VERSION" ]; then "${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >&2 || true; fi
  exit 0
fi

mkdir -p "$DIR"
chown "$OWNER" "$DIR"
chmod 700 "$DIR"
if [ ! -f "$DIR/data/PG_VERSION" ]; then
  log "creating a cluster in $DIR/data"
  "${RUN[@]}" "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 --no-locale >/dev/null
fi
if ! "${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
  log "starting PostgreSQL on 127.0.0.1:$PORT"
  # loopback only, socket in the cluster's own folder; fsync off: a test database is thrown away
  "${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c full_page_writes=off -c max_connections=200" start >&2
fi
if ! "${RUN[@]}" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
  "${RUN[@]}" "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
fi
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/$DB"
