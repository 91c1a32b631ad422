#!/usr/bin/env bash
# Continued pretraining (stage pt) of 数智岐黄 on medical text (documents are joined and cut into CUTOFF_LEN blocks).
#   bash finetune/run_pt_shuzhiqihuang.sh [--key value ...]       # flags go to training last and win
# No GPU: a CPU demo on the embedded tiny model. GPUs: MODEL_NAME_OR_PATH=/models/... (1 GPU: one process;
# several: deepspeed; HOSTFILE=...: several nodes). Settings are environment variables, printed at start;
# DRY_RUN=1 prints the command without running it. See README.md, "启动脚本（多卡 / 多机）".
set -euo pipefail
STAGE=pt
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

setup_settings
build_train_args
launch "$@"
