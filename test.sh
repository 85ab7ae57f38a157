#!/usr/bin/env bash
# Runs every test: unit tests, then integration tests on a real PostgreSQL (a private throwaway cluster is
# started from the machine's initdb/pg_ctl unless BROKER_TEST_DB names a server) and real HTTP.
# At the end it checks that no PostgreSQL cluster of this run is left in the temp folder (they are GBs); one that
# is left is stopped and removed, and the run fails. Clusters of earlier, interrupted runs are swept by the tests.
set -euo pipefail
cd "$(dirname "$0")"
tmp="${TMPDIR:-/tmp}"
# The test fixture puts this run's name into its clusters' names, so that other runs' clusters are left alone.
BROKER_TEST_RUN=$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 12)
export BROKER_TEST_RUN

# Clusters live in /dev/shm when it has room (see PostgresServer), else in the temp folder.
ours() { find /dev/shm "$tmp" -maxdepth 1 -type d -name "broker-test-pg-*-$BROKER_TEST_RUN-*" 2>/dev/null || true; }

leftover_clusters() {
  local status=$?
  rm -f "${log:-}"
  local left
  # The test host's watchers remove its clusters after it exits: a moment on a quiet machine, but deleting a few GB
  # of databases takes longer on a busy one (seen: over 30 s under stress-ng). Give them up to three minutes.
  for _ in $(seq 1 180); do
    [ -z "$(ours)" ] && break
    sleep 1
  done
  left=$(ours || true)
  if [ -n "$left" ]; then
    echo "ERROR: the tests left PostgreSQL clusters behind (removing them now):" >&2
    echo "$left" >&2
    pg_ctl=$(command -v pg_ctl || ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n1)
    for dir in $left; do
      if [ -f "$dir/postmaster.pid" ]; then
        if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pg_ctl" -D "$dir" -m immediate -w stop >/dev/null 2>&1 || true
        else "$pg_ctl" -D "$dir" -m immediate -w stop >/dev/null 2>&1 || true; fi
      fi
      rm -rf "$dir"
    done
    [ "$status" = 0 ] && status=1
  fi
  exit "$status"
}
trap leftover_clusters EXIT

# The console log is long; a failure is repeated at its end (name, message, stack) so that the last lines of a run
# say what failed.
log=$(mktemp "$tmp/broker-test-log-XXXXXX")
run_tests() {
  local status=0
  dotnet test "$1" -c Release --no-build --logger "console;verbosity=normal" 2>&1 | tee "$log" || status=$?
  if [ "$status" != 0 ]; then
    echo
    echo "=== Failed in $1 ==="
    awk '/^  Failed /{p=1; n=0} /^  Passed |^  Skipped /{p=0} p && n < 60 {print; n++}' "$log"
  fi
  return "$status"
}

dotnet build Broker.sln -c Release
run_tests tests/Broker.UnitTests
run_tests tests/Broker.IntegrationTests
