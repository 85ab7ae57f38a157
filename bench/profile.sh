#!/usr/bin/env bash
# Where the tail of a cached fetch comes from: runs the cached-fetch part of the benchmark and, during the two
# half-load runs (token path, then the bare endpoint), takes a dotnet-trace of the broker's garbage collections;
# prints how often each generation was collected and how long it paused the process.
#   bench/profile.sh            traces end up in .local/profile/
# Needs dotnet-trace (`dotnet tool install -g dotnet-trace`; installed here when missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$PATH:$HOME/.dotnet/tools"
command -v dotnet-trace >/dev/null || dotnet tool install -g dotnet-trace >/dev/null
dotnet build bench/Broker.Bench.GcPauses -c Release -v q -nologo >/dev/null
out="$root/.local/profile"
rm -rf "$out" && mkdir -p "$out"

# Waits for the hey run whose URL contains $1, then traces the broker for 7 of its 10 seconds.
trace_during() {
  for _ in $(seq 1 3000); do
    for p in $(pgrep -x hey || true); do tr '\0' ' ' < "/proc/$p/cmdline" | grep -q "$1" && break 2; done
    sleep 0.1
  done
  sleep 1
  dotnet-trace collect -p "$(pgrep -f Broker.Api.dll | head -1)" --profile gc-collect --duration 00:00:00:07 -o "$out/$2.nettrace" >/dev/null
}
trace_during /token token & tracer1=$!
trace_during /v1/ping bare & tracer2=$!
bench/run.sh --cached-only
wait $tracer1 $tracer2
dotnet bench/Broker.Bench.GcPauses/bin/Release/net10.0/Broker.Bench.GcPauses.dll "$out/token.nettrace" "$out/bare.nettrace"
