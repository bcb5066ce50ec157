#!/usr/bin/env bash
# deploy/k8s run for real with `podman kube play` (make test-k8s): the manifests built by
# kustomize through a test overlay generated in a work directory (host network, a free port
# per server, hostAliases for the service names, the locally built images, the Secret
# templates filled with random values), PostgreSQL, Redis and a mail catcher as host processes
# (as make test-containers runs them). Then: each migrate Job's pod runs to exit code 0 before
# any Deployment is played, every Deployment's readiness and liveness probe paths answer 200 on
# the ports the manifests name, the end-to-end tests pass through the gateway pod, the pods stop
# gracefully, and `podman kube down` leaves no pod, secret or volume of the run and no port open.
# What podman 4.3 cannot play (Job, Service, Namespace, HPA, Ingress) is listed; see README.
#   deploy/test-k8s.sh             (make test-k8s; needs root and `make install`)
#   KEEP_WORK=1 deploy/test-k8s.sh keep the work directory (overlay, manifests, logs)
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICES=(auth content gateway)
WORK="$(mktemp -d /tmp/suite-k8s.XXXXXX)"
chmod 755 "$WORK"  # the postgres user must reach its data directory inside
mkdir -p "$WORK/logs"
PY=.venvs/deploy/bin/python

log() { echo "[test-k8s] $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
fail() { log "FAILED: $*"; exit 1; }

LOG_FOLLOWERS=()
PLAYED=()        # files given to `podman kube play`, taken down in reverse order
SECRETS_MADE=()  # podman secrets this run created
REDIS_PID_FILE="$WORK/redis.pid"
PGDATA="$WORK/pg/data"

PODS=("${SERVICES[@]/%/-pod-0}" auth-migrate content-migrate)  # as podman 4.3 names them
VOLUMES=()
# What podman still holds of the run: pods, secrets, volumes.
run_objects() {
  local name
  for name in "${PODS[@]}"; do podman pod exists "$name" && echo "pod $name"; done
  for name in "${SECRETS_MADE[@]}"; do podman secret inspect "$name" >/dev/null 2>&1 && echo "secret $name"; done
  for name in "${VOLUMES[@]}"; do podman volume exists "$name" && echo "volume $name"; done
  return 0
}

stop_host_services() {
  if [[ -f "$PGDATA/postmaster.pid" ]]; then
    runuser -u postgres -- pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null 2>&1
  fi
  if [[ -f "$REDIS_PID_FILE" ]]; then
    kill "$(cat "$REDIS_PID_FILE")" 2>/dev/null && rm -f "$REDIS_PID_FILE"
  fi
  if [[ -n "${MAIL_PID:-}" ]]; then kill "$MAIL_PID" 2>/dev/null; wait "$MAIL_PID" 2>/dev/null || true; fi
  MAIL_PID=
}

# shellcheck disable=SC2317 # reached through the EXIT trap
cleanup() {
  local status=$? i
  set +e
  for pid in "${LOG_FOLLOWERS[@]}"; do kill "$pid" 2>/dev/null; done
  for ((i = ${#PLAYED[@]} - 1; i >= 0; i--)); do
    timeout 120 podman kube down "${PLAYED[i]}" >>"$WORK/logs/kube-down.log" 2>&1
  done
  for name in "${VOLUMES[@]}"; do
    podman volume exists "$name" && timeout 60 podman volume rm -f "$name" >/dev/null 2>&1
  done
  for name in "${SECRETS_MADE[@]}"; do podman secret rm "$name" >/dev/null 2>&1; done
  stop_host_services
  if [[ "${KEEP_WORK:-0}" == 1 || $status -ne 0 ]]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
# Interrupted, the run counts as failed (the work directory is kept), and cleans up all the same.
trap 'exit 130' INT
trap 'exit 143' TERM

[[ $(id -u) -eq 0 ]] || fail "needs root (rootful podman, runuser for PostgreSQL)"
[[ -x .venv/bin/python ]] || fail "run make install first (the tests and the embedded Redis live in .venv)"
command -v kubectl >/dev/null || fail "needs kubectl (its built-in kustomize builds the overlay)"
# Pods, secrets and emptyDir volumes take the manifests' names, which are the same for every
# run on this machine: one run at a time.
exec 9>/tmp/suite-test-k8s.lock
flock -w 900 9 || fail "another make test-k8s holds /tmp/suite-test-k8s.lock"

t0=$(now)
UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=.venvs/deploy .tools/bin/uv sync \
  --only-group deploy --frozen --quiet
# --- podman, the base image and the three images (as make test-containers builds them) ------
# Not BASE_IMAGE from the caller's shell: that one may name a registry image (compose's).
export BASE_IMAGE="${SUITE_BASE_IMAGE:-localhost/suite-base:bookworm}"
# shellcheck source=deploy/podman/env.sh
source deploy/podman/env.sh
# shellcheck source=deploy/podman/lib.sh
source deploy/podman/lib.sh
deploy/podman/base-image.sh "$BASE_IMAGE"
log "podman and the base image ready in $(since "$t0") s"
# shellcheck source=deploy/podman/host-services.sh
source deploy/podman/host-services.sh
suite_build_service_images

# --- PostgreSQL, Redis and the mail catcher as host processes on free ports -----------------
suite_host_ports
suite_start_host_services

# --- the test overlay: deploy/k8s as it is, plus only what this machine needs ---------------
OVERLAY="$WORK/overlay"
mkdir -p "$OVERLAY"
install -d -o 10001 -m 700 "$WORK/jwt-keys"
# Named as auth names its keys: nanoseconds since the epoch, which orders them.
key_file="$WORK/jwt-keys/$(date +%s%N).pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$key_file" 2>/dev/null
chown 10001 "$key_file" && chmod 600 "$key_file"
AUTH_DATABASE_URL="postgresql+psycopg://auth:$AUTH_DB_PASSWORD@postgres:$PG_PORT/auth"
CONTENT_DATABASE_URL="postgresql+psycopg://content:$CONTENT_DB_PASSWORD@postgres:$PG_PORT/content"
# The Secret templates filled in as their comments say: these values, random secrets for the
# rest. Production requires a mail server: the catcher, whose folder the tests read (plain SMTP
# is allowed only to a server on the same machine: auth checks the address, not a name).
cat >"$WORK/secret-values.env" <<EOF
REDIS_URL=redis://:$REDIS_PASSWORD@redis:$REDIS_PORT/0
SMTP_URL=smtp://127.0.0.1:$MAIL_PORT?starttls=no
AUTH_DATABASE_URL=$AUTH_DATABASE_URL
CONTENT_DATABASE_URL=$CONTENT_DATABASE_URL
EOF
chmod 600 "$WORK/secret-values.env"
(umask 077 && "$PY" deploy/kube_play.py secrets deploy/k8s/secrets.example.yaml \
  "$WORK/secret-values.env" "$WORK/jwt-keys" >"$OVERLAY/secrets.yaml")
# Every name the pods use resolves to this host (host network). podman 4.3 writes a pod's
# hostAliases only into its infra container's /etc/hosts when the pod is on the host network,
# so the overlay also mounts the same entries over each container's /etc/hosts.
HOST_NAMES=(auth content gateway postgres redis)
printf '127.0.0.1\tlocalhost %s\n::1\tlocalhost\n' "${HOST_NAMES[*]}" >"$WORK/hosts"
chmod 644 "$WORK/hosts"
host_aliases="[{ip: 127.0.0.1, hostnames: [$(IFS=,; echo "${HOST_NAMES[*]}")]}]"
cat >"$OVERLAY/pods.yaml" <<EOF
# Every pod (Deployments and the migrate Jobs): host network, the names above.
- {op: add, path: /spec/template/spec/hostNetwork, value: true}
- {op: add, path: /spec/template/spec/hostAliases, value: $host_aliases}
- op: add
  path: /spec/template/spec/volumes/-
  value: {name: etc-hosts, hostPath: {path: $WORK/hosts, type: File}}
- op: add
  path: /spec/template/spec/containers/0/volumeMounts/-
  value: {name: etc-hosts, mountPath: /etc/hosts, readOnly: true}
EOF
declare -A PORTS=([auth]=$AUTH_PORT [content]=$CONTENT_PORT [gateway]=$GATEWAY_PORT)
for svc in "${SERVICES[@]}"; do
  # One replica: on the host network a second would find its port taken. The port is the
  # container's first, named http, which the probes and the Service use.
  cat >"$OVERLAY/$svc.yaml" <<EOF
- {op: replace, path: /spec/replicas, value: 1}
- {op: test, path: /spec/template/spec/containers/0/ports/0/name, value: http}
- {op: replace, path: /spec/template/spec/containers/0/ports/0/containerPort, value: ${PORTS[$svc]}}
- {op: test, path: /spec/template/spec/containers/0/env/0/name, value: PORT}
- {op: replace, path: /spec/template/spec/containers/0/env/0/value, value: "${PORTS[$svc]}"}
EOF
  if [[ $svc != gateway ]]; then
    # "the cluster's pod network (set it to yours)": here the gateway calls from loopback.
    cat >>"$OVERLAY/$svc.yaml" <<EOF
- {op: test, path: /spec/template/spec/containers/0/env/1/name, value: TRUSTED_PROXIES}
- {op: replace, path: /spec/template/spec/containers/0/env/1/value, value: 127.0.0.0/8}
EOF
  fi
done
# podman 4.3 mounts a Secret volume with its stringData left out and its data still base64
# encoded: auth's keys come from the host directory the Secret was filled from.
cat >"$OVERLAY/auth-keys.yaml" <<EOF
- {op: test, path: /spec/template/spec/volumes/0/name, value: jwt-keys}
- op: replace
  path: /spec/template/spec/volumes/0
  value: {name: jwt-keys, hostPath: {path: $WORK/jwt-keys, type: Directory}}
EOF
GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT"
cat >"$OVERLAY/kustomization.yaml" <<EOF
# Generated by deploy/test-k8s.sh: deploy/k8s with what this machine needs.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$OVERLAY" deploy/k8s)
  - secrets.yaml
images:
  - {name: flask-suite/auth, newName: localhost/suite-auth, newTag: test}
  - {name: flask-suite/content, newName: localhost/suite-content, newTag: test}
  - {name: flask-suite/gateway, newName: localhost/suite-gateway, newTag: test}
patches:
  - {path: pods.yaml, target: {kind: Deployment}}
  - {path: pods.yaml, target: {kind: Job}}
  - {path: auth.yaml, target: {kind: Deployment, name: auth}}
  - {path: content.yaml, target: {kind: Deployment, name: content}}
  - {path: gateway.yaml, target: {kind: Deployment, name: gateway}}
  - {path: auth-keys.yaml, target: {kind: Deployment, name: auth}}
  - {path: auth-keys.yaml, target: {kind: Job, name: auth-migrate}}
  - patch: |
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: suite-config, namespace: flask-suite}
      data:
        AUTH_SERVICE_URL: http://auth:$AUTH_PORT
        CONTENT_SERVICE_URL: http://content:$CONTENT_PORT
        # The tests reach the gateway (and read its mailed links) at this address, over plain
        # HTTP: their client must get the cookies.
        PUBLIC_BASE_URL: $GATEWAY_URL
        ISSUER: $GATEWAY_URL/auth
        COOKIE_SECURE: "false"
        CORS_ORIGINS: http://localhost:3000,http://localhost:5173
EOF
kubectl kustomize "$OVERLAY" >"$WORK/manifests.yaml" 2>"$WORK/logs/kustomize.log" \
  || { cat "$WORK/logs/kustomize.log" >&2; fail "kubectl kustomize of the test overlay"; }
chmod 600 "$WORK/manifests.yaml"
mapfile -t NOT_PLAYED < <("$PY" deploy/kube_play.py split "$WORK/manifests.yaml" "$WORK/play")
log "not run by podman 4.3 (make validate-deploy checks them): ${NOT_PLAYED[*]}"
for pod in "${PODS[@]}"; do
  ! podman pod exists "$pod" || fail "a pod $pod already exists (left by another run?)"
done
mapfile -t volumes <"$WORK/play/volumes.txt"
for name in "${volumes[@]}"; do
  ! podman volume exists "$name" || fail "a volume $name already exists (left by another run?)"
done
# Removed at the end, as the pods' emptyDir volumes would be.
VOLUMES=("${volumes[@]}")
for file in "$WORK"/play/secrets/*.json; do
  name=$(basename "$file" .json)
  ! podman secret inspect "$name" >/dev/null 2>&1 || fail "a podman secret $name already exists"
  podman secret create "$name" "$file" >/dev/null
  SECRETS_MADE+=("$name")
done
log "overlay built; podman secrets: ${SECRETS_MADE[*]}"

# --- the migrate Jobs: their pods run to completion before any Deployment ------------------
play() {  # file
  PLAYED+=("$1")
  timeout 300 podman kube play "$1" >>"$WORK/logs/kube-play.log" 2>&1 \
    || { tail -n 30 "$WORK/logs/kube-play.log" >&2; fail "podman kube play $(basename "$1")"; }
}
t=$(now)
for svc in auth content; do play "$WORK/play/jobs/$svc-migrate.yaml"; done
for svc in auth content; do
  code=$(timeout 300 podman wait "$svc-migrate-migrate") || fail "waiting for $svc-migrate"
  podman logs "$svc-migrate-migrate" >"$WORK/logs/$svc-migrate.log" 2>&1
  [[ $code == 0 ]] || { cat "$WORK/logs/$svc-migrate.log" >&2; fail "$svc-migrate exited with $code"; }
  version=$(runuser -u postgres -- psql -X -At -h "$WORK/pg" -p "$PG_PORT" -U postgres -d "$svc" \
    -c "SELECT version_num FROM alembic_version_$svc")
  [[ -n "$version" ]] || fail "$svc: no alembic_version_$svc row after $svc-migrate"
  log "$svc-migrate completed (exit 0): $svc's schema at $version"
done
log "migrate Jobs (as Pods) done in $(since "$t") s"

# --- the Deployments: every readiness and liveness probe path answers -----------------------
t=$(now)
play "$WORK/play/workloads.yaml"
for svc in "${SERVICES[@]}"; do
  podman logs -f "$svc-pod-0-$svc" >"$WORK/logs/$svc.log" 2>&1 &
  LOG_FOLLOWERS+=($!)
done
while IFS=$'\t' read -r deployment probe path port; do
  if ! suite_wait_http "http://127.0.0.1:$port$path" 120; then
    tail -n 30 "$WORK/logs/$deployment.log" >&2
    fail "$deployment: $probe $path on port $port does not answer"
  fi
  log "$deployment: $probe $path on port $port answers 2xx"
done <"$WORK/play/probes.tsv"
READY_SECONDS=$(since "$t")
for svc in "${SERVICES[@]}"; do
  [[ $(podman inspect -f '{{.State.Status}} {{.RestartCount}}' "$svc-pod-0-$svc") == "running 0" ]] \
    || fail "$svc's container is not running or has restarted"
  # The pod's and container's securityContext, as podman applied it.
  security=$(podman inspect -f '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.EffectiveCaps}}' "$svc-pod-0-$svc")
  [[ $security == "10001:10001 true []" ]] \
    || fail "$svc runs as user, read-only root, capabilities: $security"
done
log "kube play -> every probe passing in $READY_SECONDS s; each service as 10001:10001, read-only root, no capabilities"

# --- the end-to-end tests through the gateway pod --------------------------------------------
status=0
t=$(now)
E2E_GATEWAY_URL=$GATEWAY_URL E2E_AUTH_URL="http://127.0.0.1:$AUTH_PORT" \
  E2E_CONTENT_URL="http://127.0.0.1:$CONTENT_PORT" E2E_LOG_DIR="$WORK/logs" E2E_MAIL_DIR="$WORK/mail" \
  E2E_ENV_AUTH_DATABASE_URL="${AUTH_DATABASE_URL/@postgres:/@127.0.0.1:}" \
  E2E_ENV_CONTENT_DATABASE_URL="${CONTENT_DATABASE_URL/@postgres:/@127.0.0.1:}" \
  .venv/bin/python -m pytest tests/e2e -p no:cacheprovider || status=1
log "end-to-end tests in $(since "$t") s"

# --- graceful stop, then kube down: nothing of the run is left ------------------------------
t=$(now)
for svc in "${SERVICES[@]}"; do
  timeout 60 podman pod stop -t 30 "$svc-pod-0" >/dev/null 2>>"$WORK/logs/kube-down.log"
  code=$(podman inspect -f '{{.State.ExitCode}}' "$svc-pod-0-$svc")
  [[ $code == 0 ]] || { log "$svc exited with $code on SIGTERM"; status=1; }
done
log "pods stopped gracefully (exit code 0) in $(since "$t") s"
t=$(now)
for ((i = ${#PLAYED[@]} - 1; i >= 0; i--)); do
  timeout 120 podman kube down "${PLAYED[i]}" >>"$WORK/logs/kube-down.log" 2>&1 \
    || { cat "$WORK/logs/kube-down.log" >&2; status=1; }
done
# kube down removes the emptyDir volumes no other container uses; the rest go here.
for name in "${VOLUMES[@]}"; do
  ! podman volume exists "$name" || timeout 60 podman volume rm "$name" >/dev/null || status=1
done
for name in "${SECRETS_MADE[@]}"; do podman secret rm "$name" >/dev/null || status=1; done
stop_host_services
left=$(run_objects)
[[ -z "$left" ]] || { log "left after kube down: $left"; status=1; }
for port in "$PG_PORT" "$REDIS_PORT" "$AUTH_PORT" "$CONTENT_PORT" "$GATEWAY_PORT" "$MAIL_PORT"; do
  if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
    log "port $port still answers after kube down"; status=1
  fi
done
log "kube down in $(since "$t") s: no pod, secret or volume of the run left, every port closed"
log "total: $(since "$t0") s"
exit $status
