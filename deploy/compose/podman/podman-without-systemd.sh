#!/usr/bin/env bash
# podman as podman-compose needs it here: Debian 12's podman 4.3, no systemd (make
# test-compose passes this file as --podman-path). Three gaps, each closed narrowly:
# - podman runs health checks from systemd timers, absent here, so no container ever turns
#   healthy by itself; and podman 4.3 has no `wait --condition=healthy`, without which
#   podman-compose skips every service_healthy dependency. `wait --condition=healthy CTR...`
#   runs each container's own health check, as the timer would, once a second until it passes
#   (failing at once if the container stopped), and `--version` reports 4.6.0, the first podman
#   with that condition, so that podman-compose asks for it.
# - podman-compose also hands depends_on to `podman create --requires`; podman 4.3 then fails
#   to start a container whose dependency has dependencies of its own ("not found in input
#   list"), and would start a finished one-off migration again. podman-compose already waits
#   for every depends_on condition before it starts a container, so --requires is dropped.
# Every other command goes to podman unchanged.
set -euo pipefail

if [[ "${1:-}" == --version ]]; then
  echo "podman version 4.6.0"  # podman-compose reads the last word
  exit 0
fi
if [[ "${1:-}" == create ]]; then
  args=()
  for arg in "$@"; do [[ $arg == --requires=* ]] || args+=("$arg"); done
  exec podman "${args[@]}"
fi
if [[ "${1:-}" != wait || "${2:-}" != --condition=healthy ]]; then
  exec podman "$@"
fi
shift 2
for container in "$@"; do
  [[ $container == --ignore ]] && continue
  until podman healthcheck run "$container" >/dev/null 2>&1; do
    if [[ "$(podman inspect -f '{{.State.Running}}' "$container" 2>/dev/null)" != true ]]; then
      echo "podman-without-systemd: $container is not running" >&2
      exit 1
    fi
    sleep 1
  done
done
