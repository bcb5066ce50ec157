#!/usr/bin/env bash
# Create .venv with every workspace package installed, using a pinned uv kept in .tools/.
# Needs only python3 (3.11+) on PATH; safe to run again (a synced venv takes a second).
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"
PYTHON="${PYTHON:-python3}"

if [ ! -x .tools/bin/uv ] || ! .tools/bin/uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
  "$PYTHON" -m venv .tools
  .tools/bin/python -m pip install --quiet "uv==$UV_VERSION"
fi
export UV_PYTHON_DOWNLOADS=never
.tools/bin/uv sync --all-packages --frozen --python "$PYTHON" --quiet
