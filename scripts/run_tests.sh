#!/usr/bin/env bash
# README command 2 (and what CI runs): set up the environment if needed, then run the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/run_tests.sh -k template`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export HF_HUB_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false
exec "${VENV:-.venv}/bin/python" -m pytest -q "$@"
