#!/usr/bin/env bash
# Runs every test: unit tests, then integration tests on a real PostgreSQL (a private throwaway cluster is
# started from the machine's initdb/pg_ctl unless BROKER_TEST_DB names a server) and real HTTP.
set -euo pipefail
cd "$(dirname "$0")"
dotnet build Broker.sln -c Release
dotnet test tests/Broker.UnitTests -c Release --no-build --logger "console;verbosity=normal"
dotnet test tests/Broker.IntegrationTests -c Release --no-build --logger "console;verbosity=normal"
