#!/usr/bin/env bash
# Known vulnerabilities in exactly what the lock installs: the locked versions exported as
# hashed requirements and checked by pip-audit against the PyPI advisory database (OSV data,
# served by the package index itself). Nothing is installed; no environment is inspected.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
.tools/bin/uv export --frozen --all-packages --all-groups --no-emit-workspace --quiet \
  --format requirements.txt -o "$requirements"
.venv/bin/pip-audit --requirement "$requirements" --no-deps --disable-pip --strict --progress-spinner off
