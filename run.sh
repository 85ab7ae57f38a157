#!/usr/bin/env bash
# Runs the broker locally on http://127.0.0.1:8080 (Swagger UI at /swagger).
# Without ConnectionStrings__Broker it starts a private PostgreSQL cluster in .local/pg.
# The first admin key is printed on first start (kept in .local/admin-key); the development key-encryption key
# is kept in .local/key-encryption.key.
#   ./run.sh --port N   listen on http://127.0.0.1:N instead (or set BROKER_URL, e.g. http://0.0.0.0:8080)
#   ./run.sh --demo     the demo instead: PostgreSQL, simulator and broker, seeded, with a curl to try (scripts/demo.sh)
#   BROKER_STATE_DIR    where .local's files live (default ./.local); BROKER_PG_PORT: the local PostgreSQL's port (5433)
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = --demo ]; then shift; exec scripts/demo.sh "$@"; fi

url="${BROKER_URL:-http://127.0.0.1:8080}"
if [ "${1:-}" = --port ]; then
  [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "Usage: ./run.sh [--port N] [broker arguments]" >&2; exit 2; }
  url="http://127.0.0.1:$2"
  shift 2
fi

state="${BROKER_STATE_DIR:-$PWD/.local}"
mkdir -p "$state"
state=$(cd "$state" && pwd)

if [ -z "${ConnectionStrings__Broker:-}" ]; then
  export BROKER_PG_DATA="${BROKER_PG_DATA:-$state/pg}"
  ConnectionStrings__Broker=$(scripts/local-postgres.sh)
  export ConnectionStrings__Broker
fi
if [ -z "${Broker__Bootstrap__AdminKey:-}" ]; then
  [ -f "$state/admin-key" ] || (umask 077; echo "brk_admin_$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)" > "$state/admin-key")
  Broker__Bootstrap__AdminKey=$(cat "$state/admin-key")
  export Broker__Bootstrap__AdminKey
  echo "Admin key (for Swagger's Authorize button): $Broker__Bootstrap__AdminKey" >&2
fi
# Earlier versions kept the generated key-encryption key under src/Broker.Api/.local: keep using it, or the key
# ring already in the database could no longer be read.
if [ -z "${BROKER_STATE_DIR:-}" ] && [ -f src/Broker.Api/.local/key-encryption.key ] && [ ! -f "$state/key-encryption.key" ]; then
  mv src/Broker.Api/.local/key-encryption.key "$state/key-encryption.key"
fi
export Broker__KeyEncryption__DevelopmentKeyFile="${Broker__KeyEncryption__DevelopmentKeyFile:-$state/key-encryption.key}"
export ASPNETCORE_ENVIRONMENT="${ASPNETCORE_ENVIRONMENT:-Development}"
# Outside Development the broker never makes up a KEK: unless one is given, the one kept in the state folder (made
# now if there is none) is passed to it as the KEK, so ASPNETCORE_ENVIRONMENT=Production ./run.sh starts too.
if [ "$ASPNETCORE_ENVIRONMENT" != Development ] && [ -z "${Broker__KeyEncryption__Key:-}" ] && [ -z "${Broker__KeyEncryption__KeyFile:-}" ]; then
  [ -f "$Broker__KeyEncryption__DevelopmentKeyFile" ] ||
    (umask 077; head -c 32 /dev/urandom | base64 > "$Broker__KeyEncryption__DevelopmentKeyFile")
  export Broker__KeyEncryption__KeyFile="$Broker__KeyEncryption__DevelopmentKeyFile"
  echo "Key-encryption key: $Broker__KeyEncryption__KeyFile (keep it: the stored secrets cannot be read without it)" >&2
fi
export ASPNETCORE_URLS="$url"
echo "Broker on $url (Swagger UI: $url/swagger)" >&2
# No launch profile: it would replace ASPNETCORE_URLS with its own applicationUrl.
exec dotnet run --project src/Broker.Api -c Release --no-launch-profile -- "$@"
