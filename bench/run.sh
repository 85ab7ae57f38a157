#!/usr/bin/env bash
# The benchmark, in one command: builds in Release, starts a private PostgreSQL (separate from run.sh's),
# the simulator and the broker as real processes, drives them with wrk, hey and a C# client, prints a table
# and writes docs/benchmarks.md.   bench/run.sh [--quick | --storm-only | --cached-only | --ceiling-only | --many-only]; BENCH_VERBOSE=1 prints per-instance timings and upstream calls,
# BENCH_LOG_DIR=dir keeps every process's output, BENCH_BROKER_DLL=path measures another build of the broker (e.g. a ReadyToRun publish)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for tool in wrk hey; do
  command -v $tool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk hey >/dev/null; break; }
done
dotnet build Broker.sln -c Release -v q -nologo >/dev/null
dotnet build bench/Broker.Bench -c Release -v q -nologo >/dev/null
dotnet build bench/Broker.Bench.Ceiling -c Release -v q -nologo >/dev/null
# The compiler and MSBuild servers stay resident after a build; stopped, they cannot take CPU from the runs.
dotnet build-server shutdown >/dev/null 2>&1 || true

export BROKER_PG_DATA="$root/.local/bench-pg" BROKER_PG_PORT="${BROKER_BENCH_PG_PORT:-5434}"
scripts/local-postgres.sh stop >/dev/null 2>&1 || true
rm -rf "$BROKER_PG_DATA"
connection=$(scripts/local-postgres.sh)
trap 'scripts/local-postgres.sh stop >/dev/null 2>&1 || true' EXIT

dotnet bench/Broker.Bench/bin/Release/net10.0/Broker.Bench.dll "$root" "$connection" "$root/docs/benchmarks.md" "$@"
