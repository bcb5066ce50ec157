#!/usr/bin/env bash
# `make lint-api`: every OpenAPI document the suite serves, linted by Redocly (recommended
# rules) and Spectral (spectral:oas and the OWASP API ruleset). The linters are the pinned
# versions of tools/api-lint/package-lock.json, installed into .tools/api-lint by this script.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=.tools/api-lint
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "lint-api needs Node.js 20+ and npm (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
fi
mkdir -p "$TOOLS"
if ! cmp -s tools/api-lint/package-lock.json "$TOOLS/package-lock.json" \
  || [ ! -x "$TOOLS/node_modules/.bin/spectral" ]; then
  cp tools/api-lint/package.json tools/api-lint/package-lock.json "$TOOLS/"
  # --ignore-scripts: no install hook of any dependency runs (one only phones home).
  (cd "$TOOLS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
cp tools/api-lint/.spectral.yaml tools/api-lint/redocly.yaml tools/api-lint/.redocly.lint-ignore.yaml "$TOOLS/"
rm -rf "$TOOLS/openapi"
.venv/bin/python scripts/api_documents.py "$TOOLS/openapi" >/dev/null
cd "$TOOLS"
echo "== Redocly (recommended)"
node_modules/.bin/redocly lint --config redocly.yaml --format stylish openapi/*.json 2>&1 \
  | grep -v -e '║' -e '╔' -e '╚'
echo "== Spectral (spectral:oas, OWASP API Security Top 10)"
node_modules/.bin/spectral lint --ruleset .spectral.yaml --fail-severity=warn openapi/*.json
