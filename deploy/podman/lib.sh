# shellcheck shell=bash
# lib.sh — helpers for building/running the suite's images with podman.
# Source it after env.sh:
#   source deploy/podman/env.sh && source deploy/podman/lib.sh
# All helpers are bounded in time.

: "${BASE_IMAGE:=localhost/suite-base:bookworm}"
# The host's CA bundle. Mount ONLY this file (not all of /etc/ssl/certs): a
# read-only /etc/ssl/certs breaks apt installs whose postinst writes there
# (ssl-cert, via postgresql). Debian's pip (python3 -m venv) reads exactly this
# file, so pip inside the build trusts whatever CA the host trusts.
: "${SUITE_CA_BUNDLE:=/etc/ssl/certs/ca-certificates.crt}"
: "${SUITE_BUILD_TIMEOUT:=900}"

# suite_build TAG CONTEXT_DIR [extra `podman build` args, e.g. -f path/Dockerfile]
suite_build() {
  local tag="$1" ctx="$2"; shift 2
  timeout "$SUITE_BUILD_TIMEOUT" podman build \
    --format docker \
    --pull=never \
    --network host \
    -v "$SUITE_CA_BUNDLE:$SUITE_CA_BUNDLE:ro" \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    -t "$tag" "$@" "$ctx"
}

# suite_free_ports N — prints N distinct free TCP ports of 127.0.0.1 on one line (all held
# open together while they are picked, so no two are the same).
suite_free_ports() {
  .venv/bin/python - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
}

# suite_wait_http URL [TIMEOUT_S=60] — poll until URL answers 2xx/3xx.
suite_wait_http() {
  local url="$1" timeout_s="${2:-60}" end
  end=$(( $(date +%s) + timeout_s ))
  while (( $(date +%s) < end )); do
    curl -fsS -o /dev/null -m 2 "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "suite_wait_http: $url did not answer within ${timeout_s}s" >&2
  return 1
}

# suite_wait_tcp HOST PORT [TIMEOUT_S=60] — poll until a TCP connect succeeds.
suite_wait_tcp() {
  local host="$1" port="$2" timeout_s="${3:-60}" end
  end=$(( $(date +%s) + timeout_s ))
  while (( $(date +%s) < end )); do
    timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "suite_wait_tcp: $host:$port not reachable within ${timeout_s}s" >&2
  return 1
}

# suite_wait_healthy CONTAINER [TIMEOUT_S=60] — run the image's HEALTHCHECK by
# hand until it passes (podman's own health timers need systemd, absent here).
suite_wait_healthy() {
  local ctr="$1" timeout_s="${2:-60}" end
  end=$(( $(date +%s) + timeout_s ))
  while (( $(date +%s) < end )); do
    timeout 30 podman healthcheck run "$ctr" >/dev/null 2>&1 && return 0
    if [[ "$(podman inspect -f '{{.State.Running}}' "$ctr" 2>/dev/null)" != true ]]; then
      echo "suite_wait_healthy: $ctr is not running; last log lines:" >&2
      podman logs --tail 30 "$ctr" >&2 2>&1 || true
      return 1
    fi
    sleep 0.2
  done
  echo "suite_wait_healthy: $ctr not healthy within ${timeout_s}s" >&2
  return 1
}

# suite_rm_label LABEL — force-remove every container carrying label LABEL
# (e.g. suite.test=1), running or not. Use in an EXIT trap.
suite_rm_label() {
  local ids
  ids=$(timeout 60 podman ps -aq --filter "label=$1" 2>/dev/null) || true
  [[ -n "$ids" ]] || return 0
  # shellcheck disable=SC2086
  timeout 120 podman rm -f -t 5 $ids >/dev/null 2>&1 || true
}
