#!/usr/bin/env bash
# The container's health check: GET /health/ready answers 200 (database reachable). The runtime image has no
# curl, so this speaks HTTP over bash's /dev/tcp.
#   broker-healthcheck [port] [host]    default: the first of $ASPNETCORE_HTTP_PORTS (else 8080), 127.0.0.1
set -euo pipefail
ports="${ASPNETCORE_HTTP_PORTS:-8080}"
port="${1:-${ports%%[,;]*}}"
host="${2:-127.0.0.1}"
exec 3<>"/dev/tcp/$host/$port"
printf 'GET /health/ready HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$host" >&3
IFS= read -r -t 5 status <&3
case "$status" in
  "HTTP/1.1 200 "*) exit 0 ;;
  *) echo "not ready: ${status%$'\r'}" >&2; exit 1 ;;
esac
