#!/usr/bin/env bash
# env.sh — make rootful podman usable on this kind of machine (Debian 12,
# root, no systemd, cgroup v1, no Docker engine, no image registry reachable).
#
# Idempotent: installs packages only when missing (apt-get update first), and
# (re)writes containers.conf into CONF_DIR.
#
# Usage (either):
#   source deploy/podman/env.sh [CONF_DIR]          # exports into current shell
#   eval "$(bash deploy/podman/env.sh [CONF_DIR])"  # prints export lines on stdout
# CONF_DIR defaults to $PODMAN_CONF_DIR, else var/podman/ in the repository (git-ignored).
# Progress/log lines go to stderr; only `export ...` lines go to stdout.
#
# Exports:
#   CONTAINERS_CONF   path of the written containers.conf (runc, cgroupfs, no default ulimits)
#   PODMAN            "podman --runtime runc" (explicit runtime, belt and braces)
#   BASE_IMAGE        localhost/suite-base:bookworm unless already set

# /run is NOT a tmpfs on this kind of machine (it lives on the root ext4), so
# podman's volatile state survives a reboot of a machine that is handed back.
# Podman only "refreshes" (forgets running containers, stale mounts, netns, IP
# leases) when /run/libpod/alive is missing. If that file predates the current
# boot and no container is running, wipe the volatile dirs as a tmpfs /run would.
_podman_env_reset_stale_state() {
  local alive=/run/libpod/alive btime mtime
  [[ -e "$alive" ]] || return 0
  btime=$(awk '/^btime/{print $2}' /proc/stat 2>/dev/null) || return 0
  mtime=$(stat -c %Y "$alive" 2>/dev/null) || return 0
  [[ -n "$btime" && -n "$mtime" && "$mtime" -lt "$btime" ]] || return 0
  if pgrep -x conmon >/dev/null 2>&1; then
    echo "[podman-env] WARNING: stale podman state but conmon is running; not touching it" >&2
    return 0
  fi
  echo "[podman-env] podman state in /run predates this boot; resetting volatile state" >&2
  rm -rf /run/libpod /run/containers /run/runc /run/crun 2>/dev/null || true
  local ns
  for ns in /run/netns/netns-*; do
    [[ -e "$ns" ]] || continue
    umount -l "$ns" 2>/dev/null || true
    rm -f "$ns" 2>/dev/null || true
  done
}

_podman_env_main() {
  local here conf_dir conf pkgs missing p
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  conf_dir="${1:-${PODMAN_CONF_DIR:-$here/../../var/podman}}"

  # Packages, all from Debian 12 main:
  #  podman            engine (pulls conmon, containers-common, buildah libs)
  #  runc              OCI runtime that works here (podman's default crun is avoided)
  #  debootstrap       to create the base image rootfs (no registry to pull from)
  #  netavark aardvark-dns iptables  bridge networking / -p port publishing for rootful podman
  #  containernetworking-plugins     fallback CNI backend (podman depends on it anyway)
  #  uidmap fuse-overlayfs slirp4netns  only needed for rootless podman; podman
  #                    Recommends them so a normal install brings them; listed so a
  #                    --no-install-recommends apt config gives the same result
  #  ca-certificates curl  host-side TLS certs (mounted into builds) and smoke tests
  pkgs=(podman runc debootstrap netavark aardvark-dns iptables containernetworking-plugins
        uidmap fuse-overlayfs slirp4netns ca-certificates curl)
  missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "[podman-env] ERROR: need root to install: ${missing[*]}" >&2
      return 1
    fi
    echo "[podman-env] installing: ${missing[*]}" >&2
    timeout 300 apt-get update -q >&2 || { echo "[podman-env] apt-get update failed" >&2; return 1; }
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q "${missing[@]}" >&2 \
      || { echo "[podman-env] apt-get install failed" >&2; return 1; }
  else
    echo "[podman-env] packages already installed" >&2
  fi

  _podman_env_reset_stale_state

  mkdir -p "$conf_dir" || return 1
  conf="$(cd "$conf_dir" && pwd)/containers.conf"
  cat >"$conf.tmp" <<'EOF'
# Written by env.sh. Rootful podman on a Debian 12 VM without systemd.
[containers]
# The packaged default sets nofile=1048576, above this machine's hard limit
# (ulimit -Hn = 20000): containers would fail to start. Inherit the caller's limits.
default_ulimits = []

[engine]
# No systemd here: the systemd cgroup manager cannot work.
cgroup_manager = "cgroupfs"
# Events to a file (no journald on this machine).
events_logger = "file"
runtime = "runc"
EOF
  mv -f "$conf.tmp" "$conf" || return 1

  export CONTAINERS_CONF="$conf"
  export PODMAN="podman --runtime runc"
  export BASE_IMAGE="${BASE_IMAGE:-localhost/suite-base:bookworm}"
  echo "[podman-env] wrote $conf" >&2
  printf 'export CONTAINERS_CONF=%q\n' "$CONTAINERS_CONF"
  printf 'export PODMAN=%q\n' "$PODMAN"
  printf 'export BASE_IMAGE=%q\n' "$BASE_IMAGE"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  # Executed: print export lines for eval.
  _podman_env_main "$@" || exit 1
else
  # Sourced: export into the caller's shell (stdout lines silenced).
  _podman_env_main "$@" >/dev/null
fi
