#!/usr/bin/env bash
# Where the tail of a cached fetch comes from: runs the separate-ceiling part of the benchmark and, during its first
# half-load run (the broker's; the ceiling's follows), takes a dotnet-trace of the broker's garbage collections;
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

# Waits for the first hey run, the broker's, then traces the broker for 5 of its 8 seconds.
trace_during() {
  for _ in $(seq 1 3000); do
    pgrep -x hey >/dev/null && break
    sleep 0.1
  done
  sleep 1
  dotnet-trace collect -p "$(pgrep -f Broker.Api.dll | head -1)" --profile gc-collect --duration 00:00:00:05 -o "$out/$1.nettrace" >/dev/null
}
trace_during token & tracer=$!
bench/run.sh --ceiling-only
wait $tracer
dotnet bench/Broker.Bench.GcPauses/bin/Release/net10.0/Broker.Bench.GcPauses.dll "$out/token.nettrace"
