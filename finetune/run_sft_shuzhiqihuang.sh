#!/usr/bin/env bash
# Supervised fine-tuning (stage sft) of 数智岐黄 on medical QA and dialogues.
#   bash finetune/run_sft_shuzhiqihuang.sh [--key value ...]      # flags go to training last and win
# No GPU: a CPU demo on the embedded tiny model. GPUs: MODEL_NAME_OR_PATH=/models/... (1 GPU: one process;
# several: deepspeed; HOSTFILE=...: several nodes). Settings are environment variables, printed at start;
# DRY_RUN=1 prints the command without running it. See README.md, "启动脚本（多卡 / 多机）".
set -euo pipefail
STAGE=sft
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

setup_settings
build_train_args
TRAIN_ARGS+=(--template "$TEMPLATE" --packing "$PACKING")
launch "$@"
