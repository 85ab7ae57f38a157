#!/usr/bin/env bash
# The benchmark, in one command: builds in Release, starts a private PostgreSQL (separate from run.sh's),
# the simulator and the broker as real processes, drives them with wrk, hey and a C# client, prints a table
# and writes docs/benchmarks.md.   bench/run.sh [--quick] [--storm-only | --cached-only | --ceiling-only | --many-only | --scale-only | --bursts-only | --ahead-only] (an -only run prints
# its figures and writes nothing); BENCH_VERBOSE=1 prints per-instance timings and upstream calls, BENCH_LOG_DIR=dir keeps every process's output,
# BENCH_BROKER_DLL=path measures another build of the broker (e.g. a ReadyToRun publish), BENCH_SCALE_MAX=n caps the scale scenario's points
# (1,000, 10,000 and 100,000 accounts and 10,000 clients; --quick: 1,000 accounts, and the clients only with --scale-only) at n accounts, BENCH_OUTPUT=file writes the report there instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for tool in wrk hey; do
  command -v $tool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk hey >/dev/null; break; }
done
# The scale scenario reads the broker's retained heap with dotnet-gcdump.
gcdump="$HOME/.dotnet/tools/dotnet-gcdump"
[ -x "$gcdump" ] || dotnet tool install -g dotnet-gcdump --version 10.0.750501 >/dev/null
export DOTNET_GCDUMP="$gcdump"
# Only what runs (bench/bench.slnf: the broker, the simulator, the benchmark and its ceiling), in one build: not the tests.
dotnet build bench/bench.slnf -c Release -v q -nologo >/dev/null
# The compiler and MSBuild servers stay resident after a build; stopped, they cannot take CPU from the runs.
dotnet build-server shutdown >/dev/null 2>&1 || true

export BROKER_PG_DATA="$root/.local/bench-pg" BROKER_PG_PORT="${BROKER_BENCH_PG_PORT:-5434}"
scripts/local-postgres.sh stop >/dev/null 2>&1 || true
rm -rf "$BROKER_PG_DATA"
connection=$(scripts/local-postgres.sh)
trap 'scripts/local-postgres.sh stop >/dev/null 2>&1 || true' EXIT

dotnet bench/Broker.Bench/bin/Release/net10.0/Broker.Bench.dll "$root" "$connection" "${BENCH_OUTPUT:-$root/docs/benchmarks.md}" "$@"
