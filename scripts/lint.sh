#!/usr/bin/env bash
# The lint step (run by scripts/run_tests.sh, so CI runs it): ruff with the config in pyproject.toml.
# Extra arguments go to `ruff check`, e.g. `bash scripts/lint.sh --fix`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${VENV:-.venv}/bin/python"
RUFF_VERSION=0.14.14
if ! "$PY" -m ruff --version 2>/dev/null | grep -q "$RUFF_VERSION"; then
  "$PY" -m pip install --disable-pip-version-check -q "ruff==$RUFF_VERSION"
fi
exec "$PY" -m ruff check "$@" src tests scripts
