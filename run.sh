#!/usr/bin/env bash
# Runs the broker locally on http://127.0.0.1:8080 (Swagger UI at /swagger).
# Without ConnectionStrings__Broker it starts a private PostgreSQL cluster in .local/pg.
# The first admin key is printed on first start (kept in .local/admin-key).
#   ./run.sh --demo   the demo instead: PostgreSQL, simulator and broker, seeded, with a curl to try (scripts/demo.sh)
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = --demo ]; then shift; exec scripts/demo.sh "$@"; fi

if [ -z "${ConnectionStrings__Broker:-}" ]; then
  ConnectionStrings__Broker=$(scripts/local-postgres.sh)
  export ConnectionStrings__Broker
fi
mkdir -p .local
if [ -z "${Broker__Bootstrap__AdminKey:-}" ]; then
  [ -f .local/admin-key ] || (umask 077; echo "brk_admin_$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)" > .local/admin-key)
  Broker__Bootstrap__AdminKey=$(cat .local/admin-key)
  export Broker__Bootstrap__AdminKey
  echo "Admin key (for Swagger's Authorize button): $Broker__Bootstrap__AdminKey" >&2
fi
export ASPNETCORE_ENVIRONMENT="${ASPNETCORE_ENVIRONMENT:-Development}"
export ASPNETCORE_URLS="${ASPNETCORE_URLS:-http://127.0.0.1:8080}"
echo "Broker on $ASPNETCORE_URLS (Swagger UI: $ASPNETCORE_URLS/swagger)" >&2
exec dotnet run --project src/Broker.Api -c Release -- "$@"
