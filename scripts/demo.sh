#!/usr/bin/env bash
# The demo in one command (./run.sh --demo): builds, then starts a throwaway PostgreSQL, the provider simulator
# and the broker, seeds one provider per dialect, an account each and a consumer client through the admin API,
# and prints the Swagger URL, the admin key, a curl that fetches a token and a link that connects the
# authorization-code account in a browser. Ctrl-C stops everything (the data folder stays, for its logs).
#
# Everything is fresh on each start (database, keys) and apart from ./run.sh's own instance:
#   BROKER_DEMO_PORT      broker port          (default 8090)
#   BROKER_DEMO_SIM_PORT  simulator port       (default 9090)
#   BROKER_DEMO_PG_PORT   PostgreSQL port      (default 5434)
#   BROKER_DEMO_DIR       data and logs        (default $TMPDIR/broker-demo-<uid>; wiped on start)
#   BROKER_DEMO_BUILD=0   skip the build (when the Release build is known to be current)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

broker_url="http://127.0.0.1:${BROKER_DEMO_PORT:-8090}"
sim_url="http://127.0.0.1:${BROKER_DEMO_SIM_PORT:-9090}"
pg_port="${BROKER_DEMO_PG_PORT:-5434}"
dir="${BROKER_DEMO_DIR:-${TMPDIR:-/tmp}/broker-demo-$(id -u)}"
command -v curl >/dev/null || { echo "The demo needs curl." >&2; exit 1; }

# PostgreSQL runs as user postgres when we are root: it must be able to reach the data directory.
mkdir -p "$dir" && chmod 755 "$dir"
export BROKER_PG_DATA="$dir/pg" BROKER_PG_PORT="$pg_port"
scripts/local-postgres.sh stop 2>/dev/null || true
rm -rf "$dir/pg" "$dir"/*.log

if [ "${BROKER_DEMO_BUILD:-1}" != 0 ]; then
  echo "Building..." >&2
  # No build servers: they would outlive us holding our output open.
  for project in src/Broker.Api tests/Broker.Simulator; do
    dotnet build "$project" -c Release --nologo -v q -clp:ErrorsOnly --disable-build-servers >&2
  done
fi

pids=()
stopped=""
stop() {
  [ -n "$stopped" ] && return
  stopped=1
  echo "Stopping the demo..." >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/local-postgres.sh stop 2>/dev/null || true
  echo "Demo stopped." >&2
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

connection=$(scripts/local-postgres.sh)

# The executables run from their build folders, so each finds its appsettings.json.
(cd tests/Broker.Simulator/bin/Release/net10.0 && exec dotnet Broker.Simulator.dll --urls "$sim_url" --seed-demo) \
  >"$dir/simulator.log" 2>&1 &
pids+=($!)

admin_key="brk_admin_$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)"
(
  cd src/Broker.Api/bin/Release/net10.0
  export ConnectionStrings__Broker="$connection" Broker__Bootstrap__AdminKey="$admin_key"
  export Broker__KeyEncryption__Key="$(head -c 32 /dev/urandom | base64)"
  export ASPNETCORE_ENVIRONMENT=Development ASPNETCORE_URLS="$broker_url"
  # Where the simulator's consent page sends the browser back to: {PublicBaseUrl}/oauth/callback.
  export Broker__PublicBaseUrl="$broker_url"
  exec dotnet Broker.Api.dll
) >"$dir/broker.log" 2>&1 &
pids+=($!)

wait_for() { # url, log
  for _ in $(seq 1 240); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || { echo "A demo process exited; last lines of $2:" >&2; tail -n 30 "$2" >&2; exit 1; }
    done
    sleep 0.5
  done
  echo "$1 did not answer within 2 minutes; see $2" >&2
  exit 1
}
wait_for "$sim_url/_sim/settings" "$dir/simulator.log"
wait_for "$broker_url/health/ready" "$dir/broker.log"

admin() { # path, JSON body, expected status (201): POST as admin, print the answer
  local answer status
  answer=$(curl -sS -w '\n%{http_code}' -X POST "$broker_url$1" -H "Authorization: Bearer $admin_key" \
    -H 'Content-Type: application/json' -d "$2")
  status=${answer##*$'\n'}
  [ "$status" = "${3:-201}" ] || { echo "POST $1 answered $status: ${answer%$'\n'*}" >&2; exit 1; }
  printf '%s' "${answer%$'\n'*}"
}

# One provider per dialect, at the paths the real upstreams document, all served by the simulator.
admin /admin/providers "{\"name\":\"sliderule\",\"dialect\":\"sliderule\",\"token_url\":\"$sim_url/api/org_token/\"}" >/dev/null
admin /admin/providers "{\"name\":\"progeny\",\"dialect\":\"simplejwt\",\"token_url\":\"$sim_url/api/v3/accounts/token/obtain/\"}" >/dev/null
admin /admin/providers "{\"name\":\"vivacity\",\"dialect\":\"keycloak\",\"token_url\":\"$sim_url/get-token\"}" >/dev/null
admin /admin/providers "{\"name\":\"oauth2-password\",\"dialect\":\"oauth2-password\",\"token_url\":\"$sim_url/o/token/\",\"client_id\":\"demo-client\",\"client_secret\":\"demo-secret\",\"scope\":\"read write\"}" >/dev/null
# The consent flow: the simulator must know the broker's callback as demo-client's redirect URI.
curl -fsS -X POST "$sim_url/_sim/clients" -H 'Content-Type: application/json' \
  -d "{\"client_id\":\"demo-client\",\"client_secret\":\"demo-secret\",\"redirect_uri\":\"$broker_url/oauth/callback\"}"
admin /admin/providers "{\"name\":\"auth-code\",\"dialect\":\"oauth2-authorization-code\",\"token_url\":\"$sim_url/o/token/\",\"authorization_url\":\"$sim_url/oauth2/authorize\",\"client_id\":\"demo-client\",\"client_secret\":\"demo-secret\",\"scope\":\"read\"}" >/dev/null
admin /admin/providers "{\"name\":\"oauth2-client\",\"dialect\":\"oauth2-client-credentials\",\"token_url\":\"$sim_url/o/token/\",\"client_id\":\"demo-client\",\"client_secret\":\"demo-secret\"}" >/dev/null

user='"username":"demo","password":"demo-password"'
admin /admin/accounts "{\"name\":\"sliderule-demo\",\"provider\":\"sliderule\",$user,\"org_name\":\"UofMDTest\"}" >/dev/null
admin /admin/accounts "{\"name\":\"progeny-demo\",\"provider\":\"progeny\",$user}" >/dev/null
admin /admin/accounts "{\"name\":\"vivacity-demo\",\"provider\":\"vivacity\",$user}" >/dev/null
admin /admin/accounts "{\"name\":\"oauth2-password-demo\",\"provider\":\"oauth2-password\",$user}" >/dev/null
admin /admin/accounts "{\"name\":\"oauth2-client-demo\",\"provider\":\"oauth2-client\"}" >/dev/null
admin /admin/accounts "{\"name\":\"auth-code-demo\",\"provider\":\"auth-code\"}" >/dev/null
accounts="sliderule-demo progeny-demo vivacity-demo oauth2-password-demo oauth2-client-demo auth-code-demo"

client=$(admin /admin/clients '{"name":"demo-service","role":"consumer","accounts":["sliderule-demo","progeny-demo","vivacity-demo","oauth2-password-demo","oauth2-client-demo","auth-code-demo"]}')
client_key=$(printf '%s' "$client" | sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p')
[ -n "$client_key" ] || { echo "No api_key in the client answer." >&2; exit 1; }
connect=$(admin /admin/accounts/auth-code-demo/connect '' 200)
connect_url=$(printf '%s' "$connect" | sed -n 's/.*"authorization_url":"\([^"]*\)".*/\1/p' | sed 's/\\u0026/\&/g')
[ -n "$connect_url" ] || { echo "No authorization_url in the connect answer." >&2; exit 1; }

cat <<TEXT

Broker demo is running.
  Swagger UI:   $broker_url/swagger  (Authorize with the admin key)
  Admin key:    $admin_key
  Client key:   $client_key  (client demo-service)
  Accounts:     $accounts
  Simulator:    $sim_url  (user demo / demo-password; protected resource: GET /whoami)
  Logs:         $dir/broker.log, $dir/simulator.log

Fetch a token (try the other accounts too):
  curl -s -H 'Authorization: Bearer $client_key' $broker_url/v1/accounts/sliderule-demo/token

Use it upstream:
  curl -s -H "Authorization: Bearer <access_token>" $sim_url/whoami

Connect an account in a browser (auth-code-demo; log in as demo / demo-password; the link works once, for 10 minutes):
  $connect_url
Then its token:
  curl -s -H 'Authorization: Bearer $client_key' $broker_url/v1/accounts/auth-code-demo/token
A new link: curl -s -X POST -H 'Authorization: Bearer $admin_key' $broker_url/admin/accounts/auth-code-demo/connect

Press Ctrl-C to stop everything.
TEXT

# Until Ctrl-C, or until one of them dies.
wait -n "${pids[@]}" || true
echo "A demo process exited unexpectedly; see $dir/broker.log and $dir/simulator.log" >&2
exit 1
