#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment; safe to run again, it skips what is done.
#   - torch: a working torch (e.g. a CUDA build on a GPU server) is kept as it is; on a machine
#     without CUDA the CPU build torch==2.13.0 is installed.
#   - then requirements.txt (tested version ranges) with torch held at the installed version,
#     and the project itself in editable mode (`llmtuner` command).
# Environment: VENV (default .venv), PYTHON (default python3), TORCH_VERSION (default 2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -q)

stamp="$VENV/.llmtuner-installed"
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$PY" -c "import llmtuner, torch" 2>/dev/null; then
  echo "[setup] environment up to date ($VENV)"
  exit 0
fi

if "$PY" -c "import torch" 2>/dev/null; then
  echo "[setup] keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "[setup] CUDA GPU found: installing the default (CUDA) torch build"
  "${PIP[@]}" torch
else
  echo "[setup] no CUDA GPU: installing CPU torch==$TORCH_VERSION"
  if ls ${PIP_FIND_LINKS:-/nonexistent}/torch-"$TORCH_VERSION"+cpu-*.whl >/dev/null 2>&1; then
    "${PIP[@]}" "torch==$TORCH_VERSION"          # a local CPU wheel (this kind of machine has one)
  else
    "${PIP[@]}" "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu \
      --extra-index-url https://pypi.org/simple
  fi
fi

constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
"$PY" -c 'import torch; print("torch==" + torch.__version__.split("+")[0])' > "$constraints"
echo "[setup] installing requirements (torch held at $(cat "$constraints"))"
"${PIP[@]}" -r requirements.txt -c "$constraints"
"${PIP[@]}" --no-deps -e .
echo "$want" > "$stamp"
echo "[setup] done: activate with 'source $VENV/bin/activate', then run 'llmtuner --help'"
