#!/usr/bin/env bash
# docker-compose.yml run for real with podman (make test-compose): podman-compose (pinned, in
# .venvs/compose) over the real file plus deploy/compose/podman/compose.host-network.yml (host
# network, free ports, stand-ins for the two registry images), in production mode with
# deploy/compose/production.env.example filled in as its comments say (random secrets, a
# signing key in a host directory). Compose builds nothing here: the images are built from the same
# Dockerfiles by deploy/podman/lib.sh (host network and the host's CA for the build), under the
# names the compose file gives them. Then: `up -d --wait` (the migrations run once and finish
# before their services, every health check passes), the end-to-end tests against the gateway
# it started, a graceful stop (a request in flight still answered, every service exiting 0),
# and `down -v`, after which no container, volume or pod of the run is left and no port open.
#   deploy/test-compose.sh             (make test-compose; needs root and `make install`)
#   KEEP_WORK=1 deploy/test-compose.sh keep the work directory (logs)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_ID="$(date +%s)-$$"
PROJECT="flask-suite-test-$RUN_ID"
OVERRIDE=deploy/compose/podman/compose.host-network.yml
WORK="$(mktemp -d /tmp/suite-compose.XXXXXX)"
mkdir -p "$WORK/logs"
ENV_FILE="$WORK/production.env"
export TAG=compose-test  # the images' tag in docker-compose.yml (flask-suite/<service>:$TAG)

log() { echo "[test-compose] $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
fail() { log "FAILED: $*"; exit 1; }

compose() {
  timeout "${COMPOSE_TIMEOUT:-600}" .venvs/compose/bin/podman-compose \
    --podman-path "$PWD/deploy/compose/podman/podman-without-systemd.sh" --in-pod=false \
    -p "$PROJECT" --env-file "$ENV_FILE" -f docker-compose.yml -f "$OVERRIDE" "$@"
}

project_objects() {  # what podman still holds of this run: containers, volumes, pods
  podman ps -aq --filter "label=io.podman.compose.project=$PROJECT"
  podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT"
  podman pod ls -q --filter "name=$PROJECT"
}

# shellcheck disable=SC2317 # reached through the EXIT trap
cleanup() {
  local status=$?
  set +e
  if [[ -n "${MAIL_PID:-}" ]]; then kill "$MAIL_PID" 2>/dev/null; fi
  if [[ -n "$(project_objects 2>/dev/null)" ]]; then
    compose down -v -t 5 >>"$WORK/logs/compose-down.log" 2>&1
    suite_rm_label "io.podman.compose.project=$PROJECT"
    podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman volume rm -f >/dev/null
  fi
  if [[ "${KEEP_WORK:-0}" == 1 || $status -ne 0 ]]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT

[[ $(id -u) -eq 0 ]] || fail "needs root (rootful podman)"
[[ -x .venv/bin/python ]] || fail "run make install first (the tests live in .venv)"

t0=$(now)
UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=.venvs/compose .tools/bin/uv sync \
  --only-group compose --frozen --quiet
# Not BASE_IMAGE from the caller's shell: that one may name a registry image (compose's).
export BASE_IMAGE="${SUITE_BASE_IMAGE:-localhost/suite-base:bookworm}"
# shellcheck source=deploy/podman/env.sh
source deploy/podman/env.sh
# shellcheck source=deploy/podman/lib.sh
source deploy/podman/lib.sh
deploy/podman/base-image.sh "$BASE_IMAGE"
log "podman, podman-compose and the base image ready in $(since "$t0") s"

# --- the images: the services' from their Dockerfiles, stand-ins for the registry's two ------
build() {  # tag dockerfile
  local tag=$1 dockerfile=$2 previous
  previous=$(podman image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  suite_build "$tag" . -f "$dockerfile" >"$WORK/logs/build-${tag//[\/:]/_}.log" 2>&1 \
    || { tail -n 40 "$WORK/logs/build-${tag//[\/:]/_}.log" >&2; fail "building $tag"; }
  # The image this tag named before is now nameless: drop it so runs don't pile up images.
  if [[ -n "$previous" && "$previous" != "$(podman image inspect -f '{{.Id}}' "$tag")" ]]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
  fi
}
t=$(now)
for svc in auth content gateway; do
  build "localhost/flask-suite/$svc:$TAG" "services/$svc/Dockerfile"
done
build localhost/suite-postgres:15 deploy/compose/podman/postgres.Dockerfile
build localhost/suite-redis:7 deploy/compose/podman/redis.Dockerfile
log "images built in $(since "$t") s"

# --- free ports for every server of the stack -----------------------------------------------
read -r TEST_AUTH_DB_PORT TEST_CONTENT_DB_PORT TEST_REDIS_PORT TEST_AUTH_PORT TEST_CONTENT_PORT \
  TEST_GATEWAY_PORT MAIL_PORT < <(suite_free_ports 7)
export TEST_AUTH_DB_PORT TEST_CONTENT_DB_PORT TEST_REDIS_PORT TEST_AUTH_PORT TEST_CONTENT_PORT \
  TEST_GATEWAY_PORT

# --- the production env file, filled in as its comments say -----------------------------------
install -d -o 10001 -m 700 "$WORK/jwt-keys"
# Named as auth names its keys: nanoseconds since the epoch, which orders them.
key_file="$WORK/jwt-keys/$(date +%s%N).pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$key_file" 2>/dev/null
chown 10001 "$key_file" && chmod 600 "$key_file"
# Every empty value is a secret (`openssl rand -hex 32`) but the mail server's: production
# requires one; the development catcher (aiosmtpd) on this host takes it, and the tests read
# the mailed links from its folder (as under make test-containers). The tests' browser
# origins for CORS.
awk -v keys="$WORK/jwt-keys" -v smtp="smtp://127.0.0.1:$MAIL_PORT?starttls=no" \
  -v public="http://127.0.0.1:$TEST_GATEWAY_PORT" '
  /^SMTP_URL=/ { print "SMTP_URL=" smtp; next }
  /^PUBLIC_BASE_URL=/ { print "PUBLIC_BASE_URL=" public; print "COOKIE_SECURE=false"; next }
  /^ISSUER=/ { print "ISSUER=" public "/auth"; next }
  /^[A-Z_]+=$/ { cmd = "openssl rand -hex 32"; cmd | getline secret; close(cmd); print $0 secret; next }
  /^AUTH_JWT_KEYS=/ { print "AUTH_JWT_KEYS=" keys; next }
  /^CORS_ORIGINS=/ { print "CORS_ORIGINS=http://localhost:3000,http://localhost:5173"; next }
  /^GUNICORN_WORKERS=/ { print "GUNICORN_WORKERS=2"; next }
  { print }' deploy/compose/production.env.example >"$ENV_FILE"
chmod 600 "$ENV_FILE"

.venv/bin/python -m aiosmtpd --nosetuid --listen "127.0.0.1:$MAIL_PORT" \
  --class aiosmtpd.handlers.Mailbox "$WORK/mail" >>"$WORK/logs/mail.log" 2>&1 &
MAIL_PID=$!
suite_wait_tcp 127.0.0.1 "$MAIL_PORT" 10 || fail "starting the mail catcher"

# --- up: compose orders everything and waits for every health check -------------------------
compose config >"$WORK/compose.resolved.yml" 2>"$WORK/logs/compose-config.log" \
  || { cat "$WORK/logs/compose-config.log" >&2; fail "podman-compose config"; }
t=$(now)
compose up -d --no-build --wait >"$WORK/logs/compose-up.log" 2>&1 \
  || { tail -n 60 "$WORK/logs/compose-up.log" >&2; compose logs >&2 2>&1 || true; fail "compose up"; }
UP_SECONDS=$(since "$t")
log "compose up -> every service healthy in $UP_SECONDS s"

container() { echo "${PROJECT}_$1_1"; }
state() { podman inspect -f "{{.State.$2}}" "$(container "$1")"; }
for svc in auth content; do
  [[ $(state "$svc-migrate" ExitCode) == 0 && $(state "$svc-migrate" Status) == exited ]] \
    || fail "$svc-migrate did not complete"
  # RFC 3339 times sort as strings only in one zone and format: compare them as numbers.
  finished=$(date -d "$(state "$svc-migrate" FinishedAt | awk '{print $1, $2}')" +%s.%N)
  started=$(date -d "$(state "$svc" StartedAt | awk '{print $1, $2}')" +%s.%N)
  awk -v f="$finished" -v s="$started" 'BEGIN { exit !(f <= s) }' \
    || fail "$svc started before its migrations finished"
done
log "both migrations completed before their services started"
for svc in auth-db content-db redis auth content gateway; do
  timeout 30 podman healthcheck run "$(container "$svc")" >/dev/null 2>&1 \
    || fail "the $svc health check does not pass"
done
log "every health check passes"

# --- the end-to-end tests against the gateway compose started -------------------------------
for svc in auth content gateway; do
  podman logs -f "$(container "$svc")" >"$WORK/logs/$svc.log" 2>&1 &
done
# The env file's values, for the database URLs a test needs (read, not sourced: an env file
# is not shell, e.g. MAIL_FROM=Name <address>).
AUTH_DB_PASSWORD=$(sed -n 's/^AUTH_DB_PASSWORD=//p' "$ENV_FILE")
CONTENT_DB_PASSWORD=$(sed -n 's/^CONTENT_DB_PASSWORD=//p' "$ENV_FILE")
status=0
t=$(now)
E2E_GATEWAY_URL="http://127.0.0.1:$TEST_GATEWAY_PORT" \
  E2E_AUTH_URL="http://127.0.0.1:$TEST_AUTH_PORT" \
  E2E_CONTENT_URL="http://127.0.0.1:$TEST_CONTENT_PORT" E2E_LOG_DIR="$WORK/logs" \
  E2E_MAIL_DIR="$WORK/mail" \
  E2E_ENV_AUTH_DATABASE_URL="postgresql+psycopg://auth:$AUTH_DB_PASSWORD@127.0.0.1:$TEST_AUTH_DB_PORT/auth" \
  E2E_ENV_CONTENT_DATABASE_URL="postgresql+psycopg://content:$CONTENT_DB_PASSWORD@127.0.0.1:$TEST_CONTENT_DB_PORT/content" \
  .venv/bin/python -m pytest tests/e2e -p no:cacheprovider || status=1
log "end-to-end tests in $(since "$t") s"

# --- graceful stop: a request in flight is answered, every service exits 0 ---------------------
t=$(now)
# auth is stopped in the middle of a request, which must still get its answer.
.venv/bin/python deploy/graceful_stop_check.py "$TEST_AUTH_PORT" "$(container auth)" || status=1
compose stop >>"$WORK/logs/compose-stop.log" 2>&1 || status=1
for svc in auth content gateway; do
  code=$(state "$svc" ExitCode)
  [[ $code == 0 ]] || { log "$svc exited with $code on SIGTERM"; status=1; }
done
log "stopped gracefully in $(since "$t") s"

# --- down -v: nothing of the run is left -------------------------------------------------------
t=$(now)
compose down -v >"$WORK/logs/compose-down.log" 2>&1 || { cat "$WORK/logs/compose-down.log" >&2; status=1; }
left=$(project_objects)
[[ -z "$left" ]] || { log "left after down -v: $left"; status=1; }
for port in "$TEST_AUTH_DB_PORT" "$TEST_CONTENT_DB_PORT" "$TEST_REDIS_PORT" "$TEST_AUTH_PORT" \
  "$TEST_CONTENT_PORT" "$TEST_GATEWAY_PORT"; do
  if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
    log "port $port still answers after down -v"; status=1
  fi
done
log "down -v in $(since "$t") s: no container, volume or pod of the run left, every port closed"
log "total: $(since "$t0") s"
exit $status
