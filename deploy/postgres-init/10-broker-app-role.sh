#!/usr/bin/env bash
# Creates the role the broker connects as: it may read and write the broker's tables but owns nothing, so it
# cannot alter the schema or drop the audit trail's append-only trigger. The tables belong to the owner
# ($POSTGRES_USER), who runs the migrations (the `migrate` service in compose.yaml).
# The postgres image runs this once, when it initialises an empty data volume. To run it by hand against an
# existing database: POSTGRES_USER=broker POSTGRES_DB=broker BROKER_APP_DB_PASSWORD=... PGHOST=... bash this-file
set -euo pipefail
app_user="${BROKER_APP_DB_USER:-broker_app}"
: "${BROKER_APP_DB_PASSWORD:?set BROKER_APP_DB_PASSWORD}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_user="$app_user" -v app_password="$BROKER_APP_DB_PASSWORD" -v owner="$POSTGRES_USER" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
GRANT CONNECT ON DATABASE :"db" TO :"app_user";
GRANT USAGE ON SCHEMA public TO :"app_user";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- Tables and sequences the owner creates from now on (every migration) are the broker's to use, not to change.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"app_user";
-- And those that exist already, when this is run against a database that was migrated before.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_user";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_user";
SQL
