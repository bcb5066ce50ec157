#!/usr/bin/env bash
# Run auth's and content's own tests and the end-to-end tests against PostgreSQL 15: a
# throwaway cluster from the machine's server binaries, on a free port, in a temporary
# directory, torn down on exit whatever happened. One database per service and per suite.
#   scripts/test-postgres.sh            services and e2e
#   scripts/test-postgres.sh services   only auth's and content's own tests
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
UV=.tools/bin/uv
what="${1:-all}"

find_pg_bin() {
  for dir in "${PG_BIN:-}" /usr/lib/postgresql/15/bin "$(pg_config --bindir 2>/dev/null || true)"; do
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return; fi
  done
}
PG_BIN_DIR="$(find_pg_bin)"
if [ -z "$PG_BIN_DIR" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing PostgreSQL 15 server binaries (Debian package)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15 >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15 >/dev/null; }
  PG_BIN_DIR="$(find_pg_bin)"
fi
if [ -z "$PG_BIN_DIR" ]; then
  echo "PostgreSQL 15 server binaries not found (set PG_BIN, or install postgresql-15)" >&2
  exit 1
fi

# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/suite-postgres.XXXXXX")"
chmod 755 "$work"
[ "$(id -u)" = 0 ] && chown postgres "$work"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

cleanup() {
  as_pg "$PG_BIN_DIR/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== PostgreSQL $("$PG_BIN_DIR/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port ($work)"
as_pg "$PG_BIN_DIR/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
# Durability settings off: a test cluster that is thrown away needs speed, not crash safety.
as_pg "$PG_BIN_DIR/pg_ctl" -D "$work/data" -l "$work/server.log" -w -t 60 start -o \
  "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$work -c fsync=off \
   -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null

databases="auth_tests content_tests auth_e2e content_e2e"
for name in $databases; do
  as_pg "$PG_BIN_DIR/createdb" -h 127.0.0.1 -p "$port" -U postgres "$name"
done
url() { echo "postgresql+psycopg://postgres@127.0.0.1:$port/$1"; }

status=0
if [ "$what" = all ] || [ "$what" = services ]; then
  for package in auth content; do
    env=".venvs/$package"
    echo "== $package-service: tests on PostgreSQL ($env)"
    UV_PROJECT_ENVIRONMENT="$env" "$UV" sync --package "$package-service" --frozen --quiet
    upper="$(echo "$package" | tr '[:lower:]' '[:upper:]')"
    env "${upper}_TEST_DATABASE_URL=$(url "${package}_tests")" \
        "${upper}_DATABASE_URL=$(url "${package}_tests")" \
      "$env/bin/python" -m pytest "services/$package/tests" -p no:cacheprovider || status=1
  done
fi
if [ "$what" = all ] || [ "$what" = e2e ]; then
  echo "== end-to-end on PostgreSQL"
  # The harness's stacks take nothing from this shell but what E2E_ENV_<NAME> hands over.
  # Not the two files about make up's processes and environment (signals at every moment
  # of start-up, the harness's own environment): no database in them behaves differently
  # on PostgreSQL, and they are about 45 s of the run. `make test` runs them.
  E2E_ENV_AUTH_DATABASE_URL="$(url auth_e2e)" E2E_ENV_CONTENT_DATABASE_URL="$(url content_e2e)" \
    .venv/bin/python -m pytest tests/e2e -p no:cacheprovider \
      --ignore=tests/e2e/test_devstack_stop.py --ignore=tests/e2e/test_harness_environment.py \
    || status=1
fi
exit $status
