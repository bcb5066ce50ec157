#!/bin/sh
# The official postgres image's start-up, as much of it as docker-compose.yml relies on:
# on the first start, a cluster in PGDATA whose superuser is POSTGRES_USER (password
# POSTGRES_PASSWORD, scram over TCP) and the database POSTGRES_DB; then the server, as the
# postgres user, with any arguments given after `postgres`.
set -eu
if [ "${1:-}" != postgres ]; then exec "$@"; fi
if [ "$(id -u)" = 0 ]; then
  install -d -o postgres -g postgres -m 700 "$PGDATA"
  install -d -o postgres -g postgres -m 2775 /run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
  user="${POSTGRES_USER:-postgres}"
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --auth-local=trust \
    --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  # The database, through a server that listens on no TCP port while it is made.
  pg_ctl -D "$PGDATA" -w -s -o "-c listen_addresses=''" start
  db="${POSTGRES_DB:-$user}"
  if [ "$db" != postgres ]; then createdb -U "$user" "$db"; fi
  pg_ctl -D "$PGDATA" -w -s -m fast stop
  echo "postgres-entrypoint: created the cluster with database $db"
fi
exec "$@"
