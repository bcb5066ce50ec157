#!/usr/bin/env bash
# The suite as containers, tested for real with podman (no Docker engine, no registry here):
# base image, the three images, PostgreSQL and Redis as host processes on free ports,
# migrations as one-off containers (upgrade, downgrade to base, upgrade: on PostgreSQL), the
# services as containers in production mode with host networking, then the end-to-end tests
# against the gateway container, and a graceful stop. Everything it started is removed on exit.
#   deploy/test-containers.sh            (make test-containers; needs root and `make install`)
#   KEEP_WORK=1 deploy/test-containers.sh   keep the work directory (logs) for a post-mortem
#   SUITE_BASE_IMAGE=localhost/other:tag ...  made by debootstrap under that name if missing
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_ID="$(date +%s)-$$"
LABEL="suite.test-containers=$RUN_ID"
SERVICES=(auth content gateway)
WORK="$(mktemp -d /tmp/suite-containers.XXXXXX)"
chmod 755 "$WORK"  # the postgres user must reach its data directory inside
mkdir -p "$WORK/logs"

log() { echo "[test-containers] $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
fail() { log "FAILED: $*"; exit 1; }

LOG_FOLLOWERS=()
REDIS_PID_FILE="$WORK/redis.pid"
PGDATA="$WORK/pg/data"
# shellcheck disable=SC2317 # reached through the EXIT trap
cleanup() {
  local status=$?
  set +e
  for pid in "${LOG_FOLLOWERS[@]}"; do kill "$pid" 2>/dev/null; done
  if declare -F suite_rm_label >/dev/null; then suite_rm_label "$LABEL"; fi
  if [[ -f "$PGDATA/postmaster.pid" ]]; then
    runuser -u postgres -- pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null 2>&1
  fi
  if [[ -f "$REDIS_PID_FILE" ]]; then kill "$(cat "$REDIS_PID_FILE")" 2>/dev/null; fi
  if [[ -n "${MAIL_PID:-}" ]]; then kill "$MAIL_PID" 2>/dev/null; fi
  if [[ "${KEEP_WORK:-0}" == 1 || $status -ne 0 ]]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT

[[ $(id -u) -eq 0 ]] || fail "needs root (rootful podman, runuser for PostgreSQL)"
[[ -x .venv/bin/python ]] || fail "run make install first (the tests and the embedded Redis live in .venv)"

# --- podman, the base image and the three images ------------------------------------------
t0=$(now)
# Not BASE_IMAGE from the caller's shell: that one may name a registry image (compose's).
export BASE_IMAGE="${SUITE_BASE_IMAGE:-localhost/suite-base:bookworm}"
# shellcheck source=deploy/podman/env.sh
source deploy/podman/env.sh
# shellcheck source=deploy/podman/lib.sh
source deploy/podman/lib.sh
log "podman ready in $(since "$t0") s"
t=$(now)
deploy/podman/base-image.sh "$BASE_IMAGE"
log "base image $BASE_IMAGE ready in $(since "$t") s"

# shellcheck source=deploy/podman/host-services.sh
source deploy/podman/host-services.sh
suite_build_service_images

# --- PostgreSQL and Redis as host processes on free ports ---------------------------------
suite_host_ports
suite_start_host_services

# --- settings: production mode, real secrets, a signing key mounted read-only --------------
install -d -o 10001 -m 700 "$WORK/jwt-keys"
# Named as auth names its keys: nanoseconds since the epoch, which orders them.
key_file="$WORK/jwt-keys/$(date +%s%N).pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$key_file" 2>/dev/null
chown 10001 "$key_file" && chmod 600 "$key_file"
AUTH_DATABASE_URL="postgresql+psycopg://auth:$AUTH_DB_PASSWORD@127.0.0.1:$PG_PORT/auth"
CONTENT_DATABASE_URL="postgresql+psycopg://content:$CONTENT_DB_PASSWORD@127.0.0.1:$PG_PORT/content"
# Secrets go through env files, never onto a command line.
cat >"$WORK/common.env" <<EOF
APP_ENV=production
SECRET_KEY=$(secret)
TOTP_ENCRYPTION_KEY=$(secret)
REDIS_URL=redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0
AUTH_SERVICE_URL=http://127.0.0.1:$AUTH_PORT
CONTENT_SERVICE_URL=http://127.0.0.1:$CONTENT_PORT
# Production requires a mail server: the development catcher (aiosmtpd) on this host, whose
# folder the end-to-end tests read the mailed links from.
SMTP_URL=smtp://127.0.0.1:$MAIL_PORT?starttls=no
PUBLIC_BASE_URL=http://127.0.0.1:$GATEWAY_PORT
ISSUER=http://127.0.0.1:$GATEWAY_PORT/auth
# Production over plain HTTP on this host only: the tests' HTTP client must get its cookies.
COOKIE_SECURE=false
CORS_ORIGINS=http://localhost:3000,http://localhost:5173
UPSTREAM_READ_TIMEOUT=5
GUNICORN_WORKERS=2
LOG_FORMAT=json
EOF
printf 'AUTH_DATABASE_URL=%s\nRELAY_CLIENT_SECRET=%s\n' "$AUTH_DATABASE_URL" "$(secret)" >"$WORK/auth.env"
echo "CONTENT_DATABASE_URL=$CONTENT_DATABASE_URL" >"$WORK/content.env"
: >"$WORK/gateway.env"
chmod 600 "$WORK"/*.env

# podman run with the suite's settings; podman's harmless systemd health-timer complaints
# (no systemd here) go to a log file instead of the terminal.
run_container() {  # service [podman run options...] -- [command...]
  local svc=$1; shift
  local opts=() ; while [[ $# -gt 0 && $1 != -- ]]; do opts+=("$1"); shift; done; shift || true
  local mounts=()
  [[ $svc == auth ]] && mounts=(-v "$WORK/jwt-keys:/var/lib/auth/keys:ro")
  timeout 300 podman run --label "$LABEL" --network host \
    --env-file "$WORK/common.env" --env-file "$WORK/$svc.env" "${mounts[@]}" "${opts[@]}" \
    "localhost/suite-$svc:test" "$@" 2>>"$WORK/logs/podman-$svc.log"
}

# --- migrations: one-off containers, before any service starts -----------------------------
migrate() {  # service: upgrade, downgrade to base, upgrade again, on its own database
  local svc=$1 step version
  for step in "upgrade" "downgrade base" "upgrade"; do
    # shellcheck disable=SC2086 # the step is two words on purpose
    run_container "$svc" --rm --read-only -- flask --app "${svc}_service" db $step \
      >>"$WORK/logs/$svc-migrate.log" 2>&1 \
      || { cat "$WORK/logs/$svc-migrate.log" "$WORK/logs/podman-$svc.log" >&2; fail "$svc: db $step"; }
  done
  version=$(runuser -u postgres -- psql -X -At -h "$WORK/pg" -p "$PG_PORT" -U postgres -d "$svc" \
    -c "SELECT version_num FROM alembic_version_$svc")
  [[ -n "$version" ]] || fail "$svc: no alembic_version_$svc row after upgrade"
  log "$svc migrations: upgrade, downgrade base, upgrade on PostgreSQL -> $version"
}
t=$(now)
# Two services, two databases: their migrations run side by side.
migrate auth & auth_migration=$!
migrate content & content_migration=$!
wait "$auth_migration" || fail "auth migrations"
wait "$content_migration" || fail "content migrations"
log "migrations done in $(since "$t") s"

# --- the services as containers ---------------------------------------------------------------
declare -A PORTS=([auth]=$AUTH_PORT [content]=$CONTENT_PORT [gateway]=$GATEWAY_PORT)
t_run=$(now)
for svc in "${SERVICES[@]}"; do
  # --read-only (podman adds tmpfs on /tmp): the same read-only root as deploy/k8s asks for.
  run_container "$svc" -d --read-only --name "suite-$svc-$RUN_ID" -e "PORT=${PORTS[$svc]}" -- >/dev/null \
    || { cat "$WORK/logs/podman-$svc.log" >&2; fail "starting the $svc container"; }
  podman logs -f "suite-$svc-$RUN_ID" >"$WORK/logs/$svc.log" 2>&1 &
  LOG_FOLLOWERS+=($!)
done
GATEWAY="http://127.0.0.1:$GATEWAY_PORT"
if ! suite_wait_http "$GATEWAY/readyz" 120; then
  for svc in "${SERVICES[@]}"; do log "--- $svc"; tail -n 30 "$WORK/logs/$svc.log" >&2; done
  curl -sS "$GATEWAY/readyz" >&2 || true
  fail "the gateway did not become ready"
fi
READY_SECONDS=$(since "$t_run")
log "podman run -> gateway /readyz 200 in $READY_SECONDS s"
for svc in "${SERVICES[@]}"; do
  timeout 30 podman healthcheck run "suite-$svc-$RUN_ID" >/dev/null 2>&1 \
    || fail "the $svc image's HEALTHCHECK does not pass"
done
log "every image's HEALTHCHECK passes"

# --- the end-to-end tests against the gateway container --------------------------------------
status=0
E2E_GATEWAY_URL=$GATEWAY E2E_AUTH_URL="http://127.0.0.1:$AUTH_PORT" \
  E2E_CONTENT_URL="http://127.0.0.1:$CONTENT_PORT" E2E_LOG_DIR="$WORK/logs" E2E_MAIL_DIR="$WORK/mail" \
  E2E_ENV_AUTH_DATABASE_URL="$AUTH_DATABASE_URL" E2E_ENV_CONTENT_DATABASE_URL="$CONTENT_DATABASE_URL" \
  .venv/bin/python -m pytest tests/e2e -p no:cacheprovider || status=1

# --- graceful stop: SIGTERM, in-flight requests finish, exit code 0 ---------------------------
t=$(now)
for svc in gateway content; do
  timeout 60 podman stop -t 30 "suite-$svc-$RUN_ID" >/dev/null 2>>"$WORK/logs/podman-$svc.log"
done
# auth is stopped in the middle of a request, which must still get its answer.
.venv/bin/python deploy/graceful_stop_check.py "$AUTH_PORT" "suite-auth-$RUN_ID" || status=1
for svc in "${SERVICES[@]}"; do
  code=$(podman inspect -f '{{.State.ExitCode}}' "suite-$svc-$RUN_ID")
  [[ $code == 0 ]] || { log "$svc exited with $code on SIGTERM"; status=1; }
done
log "stopped gracefully in $(since "$t") s"

log "summary:"
for svc in "${SERVICES[@]}"; do
  size=$(podman image inspect -f '{{.Size}}' "localhost/suite-$svc:test" | awk '{printf "%.0f MB", $1 / 1e6}')
  log "  suite-$svc image: $size (built in ${BUILD_SECONDS[$svc]} s)"
done
log "  podman run -> ready gateway: $READY_SECONDS s"
log "  total: $(since "$t0") s"
exit $status
