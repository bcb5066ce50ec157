#!/usr/bin/env bash
# base-image.sh — build a Debian bookworm "minbase" rootfs with debootstrap
# and import it into podman as a base image (no image registry is reachable).
#
# Usage: base-image.sh [TAG]
#   TAG defaults to $BASE_IMAGE or localhost/suite-base:bookworm
# Env:
#   FORCE=1            rebuild even if the image already exists
#   DEBIAN_MIRROR=URL  override the mirror (default: read from /etc/apt/sources.list*)
#   SECURITY_MIRROR=URL  override the security mirror (default: read likewise)
#   BASE_INCLUDE=a,b   extra packages for the rootfs (added to python3,python3-venv,ca-certificates)
#   SUITE=bookworm     Debian suite
#   DEBOOTSTRAP_TIMEOUT=900  seconds
#
# Needs: root, podman, debootstrap (see env.sh). Prints timings to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TAG="${1:-${BASE_IMAGE:-localhost/suite-base:bookworm}}"
SUITE="${SUITE:-bookworm}"
INCLUDE="python3,python3-venv,ca-certificates${BASE_INCLUDE:+,$BASE_INCLUDE}"
DEBOOTSTRAP_TIMEOUT="${DEBOOTSTRAP_TIMEOUT:-900}"

log() { echo "[base-image] $*" >&2; }

# Use podman settings from env.sh unless the caller already set them.
if [[ -z "${CONTAINERS_CONF:-}" ]]; then
  # shellcheck disable=SC1091
  source "$HERE/env.sh" >/dev/null
fi

if [[ "${FORCE:-0}" != 1 ]] && timeout 60 podman image exists "$TAG"; then
  log "image $TAG already exists; skipping (FORCE=1 to rebuild)"
  exit 0
fi

# --- find the Debian mirror configured for apt on this host -------------------
# Prints the first URI configured for suite $1 (deb822 *.sources or one-line *.list).
apt_uri_for_suite() {
  local suite="$1" f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    # deb822: blank-line separated stanzas; pick one whose Types has deb and Suites has $suite
    awk -v want="$suite" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") && uris != "" && enabled != "no") {
          split(uris, u, " "); print u[1]; found=1; exit
        }
        types=""; suites=""; uris=""; enabled=""
      }
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*$/ { flush(); next }
      { key=$1; sub(/:$/, "", key); $1=""; sub(/^ +/, ""); val=$0
        k=tolower(key)
        if (k=="types") types=val; else if (k=="suites") suites=val;
        else if (k=="uris") uris=val; else if (k=="enabled") enabled=tolower(val) }
      END { if (!found) flush() }' "$f" | head -n1
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    # one-line: deb [opts] URI SUITE COMPONENTS...
    awk -v want="$suite" '
      $1=="deb" { i=2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                  if ($(i+1)==want) { print $i; exit } }' "$f"
  done
}

MIRROR="${DEBIAN_MIRROR:-$(apt_uri_for_suite "$SUITE" | head -n1)}"
SEC_MIRROR="${SECURITY_MIRROR:-$(apt_uri_for_suite "$SUITE-security" | head -n1)}"
if [[ -z "$MIRROR" ]]; then
  log "ERROR: no apt mirror for suite '$SUITE' found in /etc/apt/sources.list*; set DEBIAN_MIRROR"
  exit 1
fi
log "mirror: $MIRROR   security: ${SEC_MIRROR:-<none>}"

WORK="$(mktemp -d /var/tmp/suite-base.XXXXXX)"
cleanup() { rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT
ROOTFS="$WORK/rootfs"

t0=$(date +%s)
log "debootstrap --variant=minbase --include=$INCLUDE $SUITE (timeout ${DEBOOTSTRAP_TIMEOUT}s)..."
if ! timeout "$DEBOOTSTRAP_TIMEOUT" debootstrap --variant=minbase --include="$INCLUDE" \
      --components=main "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
  log "ERROR: debootstrap failed; last lines of its log:"
  tail -n 30 "$WORK/debootstrap.log" >&2
  [[ -f "$ROOTFS/debootstrap/debootstrap.log" ]] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2
  exit 1
fi
t1=$(date +%s)
log "debootstrap done in $((t1 - t0))s"

# apt sources inside the image: same mirrors as the host (so `apt-get install`
# in a Dockerfile RUN with --network host reaches them).
{
  echo "Types: deb"
  echo "URIs: $MIRROR"
  echo "Suites: $SUITE $SUITE-updates"
  echo "Components: main"
  echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
  if [[ -n "$SEC_MIRROR" ]]; then
    echo
    echo "Types: deb"
    echo "URIs: $SEC_MIRROR"
    echo "Suites: $SUITE-security"
    echo "Components: main"
    echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
  fi
} >"$ROOTFS/etc/apt/sources.list.d/debian.sources"
rm -f "$ROOTFS/etc/apt/sources.list"

# Keep the image small and container-friendly.
cat >"$ROOTFS/etc/apt/apt.conf.d/90container" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "3";
// Do not keep downloaded .debs or binary caches in image layers.
APT::Keep-Downloaded-Packages "false";
Binary::apt::APT::Keep-Downloaded-Packages "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/90container" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
# Services must not be started by package postinst scripts during image builds.
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/lib/apt/lists/* \
       "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
       "$ROOTFS"/var/log/*.log "$ROOTFS"/debootstrap 2>/dev/null || true
: >"$ROOTFS/etc/hostname"
rm -f "$ROOTFS/etc/resolv.conf"   # podman bind-mounts its own

log "importing into podman as $TAG..."
timeout 600 tar --numeric-owner --xattrs -C "$ROOTFS" -c . | timeout 600 podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV DEBIAN_FRONTEND=noninteractive' \
  --change 'CMD ["/bin/bash"]' \
  --message "debootstrap $SUITE minbase + $INCLUDE" \
  - "$TAG" >/dev/null
t2=$(date +%s)
log "import done in $((t2 - t1))s; total $((t2 - t0))s"
timeout 60 podman images --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}' "$TAG" >&2
