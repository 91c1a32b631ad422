#!/usr/bin/env bash
# Preference training of 数智岐黄 on medical chosen/rejected pairs: stage dpo (STAGE=kto|orpo|simpo|rm for the others).
#   bash finetune/run_dpo_shuzhiqihuang.sh [--key value ...]      # flags go to training last and win
# No GPU: a CPU demo on the embedded tiny model. GPUs: MODEL_NAME_OR_PATH=/models/... (usually the SFT model, or the
# base with ADAPTER=<the SFT adapter>, merged first). Settings are environment variables, printed at start;
# DRY_RUN=1 prints the command without running it. See README.md, "偏好训练".
set -euo pipefail
STAGE="${STAGE:-dpo}"
case "$STAGE" in dpo | kto | orpo | simpo | rm) ;;
  *) echo "$(basename "$0"): error: STAGE must be dpo, kto, orpo, simpo or rm, got '$STAGE'." >&2; exit 2 ;;
esac
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"


setup_settings
stage_default DATASET medical_preference_sample
stage_default TEMPLATE "$(guess_template "$MODEL_NAME_OR_PATH")"
[[ -n "$TEMPLATE" ]] || die "cannot tell the chat template from MODEL_NAME_OR_PATH=$MODEL_NAME_OR_PATH: set TEMPLATE (see \`llmtuner templates\`)."
if (( GPU )); then  # preference losses move a trained model a little: LLaMA-Factory's DPO examples use 5e-6
  stage_default LR 5.0e-6
  stage_default EPOCHS 3
else  # the tiny random model needs big steps to show its reward margin rising within the demo
  stage_default LR 5.0e-3
fi
stage_default PREF_BETA 0.1
[[ "$STAGE" == dpo ]] && stage_default PREF_LOSS sigmoid
default ADAPTER ""
build_train_args
TRAIN_ARGS+=(--template "$TEMPLATE")
[[ "$STAGE" != rm ]] && TRAIN_ARGS+=(--pref_beta "$PREF_BETA")
[[ "$STAGE" == dpo ]] && TRAIN_ARGS+=(--pref_loss "$PREF_LOSS")
[[ -n "$ADAPTER" ]] && TRAIN_ARGS+=(--adapter_name_or_path "$(from_root "$ADAPTER")" --create_new_adapter true)
launch "$@"
