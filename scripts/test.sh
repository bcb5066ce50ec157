#!/usr/bin/env bash
# Run the suite's tests: each package in an environment holding only its own dependencies
# (so a missing dependency fails here, not in its container), then end to end.
#   scripts/test.sh            everything
#   scripts/test.sh services   only the per-package tests
#   scripts/test.sh e2e        only the end-to-end tests
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
UV=.tools/bin/uv
what="${1:-all}"
status=0

package_tests() {  # package-name directory
  local package=$1 dir=$2 env=".venvs/$1"
  echo "== $package: tests in its own environment ($env)"
  UV_PROJECT_ENVIRONMENT="$env" "$UV" sync --package "$package" --frozen --quiet
  "$env/bin/python" -m pytest "$dir/tests" -p no:cacheprovider || status=1
}

if [ "$what" = all ] || [ "$what" = services ]; then
  package_tests suite-shared shared
  package_tests auth-service services/auth
  package_tests content-service services/content
  package_tests gateway-service services/gateway
fi
if [ "$what" = all ] || [ "$what" = e2e ]; then
  echo "== end-to-end: the real stack under gunicorn"
  .venv/bin/python -m pytest tests/e2e -p no:cacheprovider || status=1
fi
exit $status
