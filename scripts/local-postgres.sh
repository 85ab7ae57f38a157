#!/usr/bin/env bash
# Starts (or reuses) a private PostgreSQL cluster for local runs, from the machine's own binaries.
# Prints the connection string on stdout. Data lives in .local/pg (git-ignored).
#   scripts/local-postgres.sh          start if needed, print the connection string
#   scripts/local-postgres.sh stop     stop it
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data="${BROKER_PG_DATA:-$root/.local/pg}"
port="${BROKER_PG_PORT:-5433}"

bin=$(dirname "$(readlink -f "$(command -v pg_ctl 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n1)")")
[ -x "$bin/pg_ctl" ] || { echo "PostgreSQL binaries (initdb, pg_ctl) not found; install PostgreSQL or set ConnectionStrings__Broker" >&2; exit 1; }

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ "${1:-}" = stop ]; then
  [ -f "$data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >&2 || true
  exit 0
fi

if [ ! -f "$data/PG_VERSION" ]; then
  mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$data" && chmod 700 "$data"
  as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >&2
  cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
max_connections = 300
CONF
fi

if ! as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  as_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >&2
fi

if ! "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'broker'" postgres | grep -q 1; then
  "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -c "CREATE DATABASE broker" postgres >&2
fi
echo "Host=127.0.0.1;Port=$port;Username=postgres;Database=broker"
