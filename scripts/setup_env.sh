#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment; safe to run again, it skips what is done.
#   - torch: a working torch (e.g. a CUDA build on a GPU server) is kept as it is; on a machine
#     without CUDA the CPU build torch==2.13.0 is installed.
#   - then requirements.txt (tested version ranges) with torch held at the installed version,
#     and the project itself in editable mode (`llmtuner` command).
# Environment: VENV (default .venv), PYTHON (default python3), TORCH_VERSION (default 2.13.0),
# TORCH_CUDA_RANGE (the torch versions tested on GPUs, default ">=2.9,<2.15"), TORCH_INDEX_URL (an index to take
# torch from, e.g. a PyTorch CPU/CUDA wheel index or a mirror; otherwise pip's own configuration decides).
# No package host is written here: indexes come from the environment or pip's configuration (pip.conf, PIP_INDEX_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
TORCH_CUDA_RANGE=${TORCH_CUDA_RANGE:->=2.9,<2.15}

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment $VENV"
  if ! "$PYTHON" -m venv "$VENV"; then
    rm -rf "$VENV"  # the half-made folder this script just created
    echo "[setup] '$PYTHON -m venv' failed. On Debian/Ubuntu install the venv module first:" \
         "sudo apt install python3-venv (or python3.X-venv for your Python version), then run this again." >&2
    exit 1
  fi
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
else
  index=()
  if [ -n "${TORCH_INDEX_URL:-}" ]; then index=(--index-url "$TORCH_INDEX_URL"); fi
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "[setup] CUDA GPU found: installing a tested CUDA torch (torch$TORCH_CUDA_RANGE)"
    "${PIP[@]}" "torch$TORCH_CUDA_RANGE" "${index[@]}"
  else
    # pip's default index serves CUDA builds on Linux (several GB); for the CPU build point TORCH_INDEX_URL at a
    # CPU wheel index, or PIP_FIND_LINKS at a folder holding the wheel (this kind of machine has one).
    echo "[setup] no CUDA GPU: installing torch==$TORCH_VERSION"
    "${PIP[@]}" "torch==$TORCH_VERSION" "${index[@]}"
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
