#!/usr/bin/env bash
# SFT throughput side by side with LLaMA-Factory on this machine (README「基准」, docs/benchmark_llamafactory.md).
#   bash scripts/bench_llamafactory.sh                         # 4 configurations x 3 runs of each framework
#   bash scripts/bench_llamafactory.sh --configs lora --runs 1 # a subset (lora, lora-packing, full, full-packing)
#   bash scripts/bench_llamafactory.sh --setup-only            # only build the LLaMA-Factory environment
# Other arguments go to scripts/bench_llamafactory.py (see its --help). Raw runs: saves/bench_llamafactory/runs.json.
#
# LLaMA-Factory gets its own virtual environment (LF_VENV, default .venv-llamafactory; not committed), with
# llamafactory and its training stack pinned below and torch held at the version this project's .venv has
# (a constraints file made at run time). No package host is written here: indexes come from the environment or
# pip's configuration, as in scripts/setup_env.sh (TORCH_INDEX_URL, if set, is where torch is taken from).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${VENV:-.venv}/bin/python"
LF_VENV=${LF_VENV:-.venv-llamafactory}
LF_PY="$LF_VENV/bin/python"
# The versions docs/benchmark_llamafactory.md reports; transformers/peft/accelerate/datasets are the newest that
# llamafactory 0.9.5 allows (its upper bounds), so pinning them only makes a rebuild reproducible.
LF_PINS=(llamafactory==0.9.5 transformers==5.6.0 peft==0.18.1 accelerate==1.11.0 datasets==4.0.0)

setup_only=0
args=()
for arg in "$@"; do
  if [ "$arg" = "--setup-only" ]; then setup_only=1; else args+=("$arg"); fi
done

if [ ! -x "$PY" ]; then
  echo "[bench-lf] $PY not found: run 'bash scripts/setup_env.sh' first" >&2
  exit 1
fi
TORCH=$("$PY" -c 'import torch; print(torch.__version__)')
want="$TORCH ${LF_PINS[*]}"
stamp="$LF_VENV/.bench-llamafactory"

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! "$LF_PY" -c "import llamafactory" 2>/dev/null; then
  echo "[bench-lf] building $LF_VENV (${LF_PINS[*]}, torch==$TORCH)"
  [ -x "$LF_PY" ] || "$PY" -m venv "$LF_VENV"
  PIP=("$LF_PY" -m pip install --disable-pip-version-check -q)
  constraints=$(mktemp)
  trap 'rm -f "$constraints"' EXIT
  printf '%s\n' "torch==$TORCH" "${LF_PINS[@]:1}" > "$constraints"
  # llamafactory requires torchaudio (data/mm_plugin.py imports it at import time; text SFT never calls it), but
  # PyPI has no torchaudio built for every torch, e.g. none for 2.13. Where the one matching torch cannot be
  # installed, an empty stand-in is put into the venv's site-packages, with a dist-info so pip counts the
  # requirement as met instead of replacing torch.
  if ! "$LF_PY" -c "import torchaudio" 2>/dev/null; then
    index=()
    if [ -n "${TORCH_INDEX_URL:-}" ]; then index=(--index-url "$TORCH_INDEX_URL"); fi
    "${PIP[@]}" "torch==$TORCH" "${index[@]}"
    version=${TORCH%%+*}
    if ! "${PIP[@]}" "torchaudio==$version" -c "$constraints" "${index[@]}" 2>/dev/null; then
      site=$("$LF_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
      echo "[bench-lf] no torchaudio for torch $TORCH: installing an empty stand-in torchaudio $version"
      mkdir -p "$site/torchaudio" "$site/torchaudio-$version.dist-info"
      echo '"""Empty stand-in made by scripts/bench_llamafactory.sh: llamafactory imports torchaudio, text SFT never uses it."""' \
        > "$site/torchaudio/__init__.py"
      printf 'Metadata-Version: 2.1\nName: torchaudio\nVersion: %s\nSummary: empty stand-in\n' "$version" \
        > "$site/torchaudio-$version.dist-info/METADATA"
      echo "bench_llamafactory.sh" > "$site/torchaudio-$version.dist-info/INSTALLER"
      printf 'torchaudio/__init__.py,,\ntorchaudio-%s.dist-info/METADATA,,\ntorchaudio-%s.dist-info/INSTALLER,,\ntorchaudio-%s.dist-info/RECORD,,\n' \
        "$version" "$version" "$version" > "$site/torchaudio-$version.dist-info/RECORD"
    fi
  fi
  "${PIP[@]}" "${LF_PINS[@]}" -c "$constraints"
  # torchvision comes in as a requirement too; where the one pip found does not load with this torch (PyPI's Linux
  # wheels are CUDA builds: with a CPU torch they fail with "operator torchvision::nms does not exist", and then
  # every transformers model import fails), it is removed: text SFT does not use it and LF does not import it.
  if ! "$LF_PY" -c "import torchvision" 2>/dev/null; then
    echo "[bench-lf] the installed torchvision does not load with torch $TORCH: removing it (text SFT does not need it)"
    "$LF_PY" -m pip uninstall --disable-pip-version-check -y -q torchvision
  fi
  "$LF_PY" -c "import llamafactory, torch; print('[bench-lf] llamafactory', llamafactory.__version__, 'torch', torch.__version__)"
  echo "$want" > "$stamp"
fi
[ "$setup_only" = 1 ] && exit 0

"$PY" -c "from llmtuner.model.tiny import ensure_tiny_model; ensure_tiny_model()"
LF_PYTHON="$LF_PY" exec "$PY" scripts/bench_llamafactory.py "${args[@]}"
