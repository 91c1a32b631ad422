#!/usr/bin/env bash
# GRPO of 数智岐黄 with medical rewards: completions sampled during training, scored by REWARD_FUNCS (mcq_correct,
# format, term_recall, tcm_safety, length, or a function of your own as module:function on PYTHONPATH).
#   bash finetune/run_grpo_shuzhiqihuang.sh [--key value ...]      # flags go to training last and win
# No GPU: a CPU demo on the embedded tiny model. GPUs: MODEL_NAME_OR_PATH=/models/... (usually the SFT model, or the
# base with ADAPTER=<the SFT adapter>, merged first); USE_VLLM=true generates with vLLM (VLLM_MODE colocate|server).
# Settings are environment variables, printed at start; DRY_RUN=1 prints the command without running it.
# See README.md, "偏好训练".
set -euo pipefail
STAGE=grpo
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"


setup_settings
stage_default DATASET medical_grpo_sample
stage_default TEMPLATE "$(guess_template "$MODEL_NAME_OR_PATH")"
[[ -n "$TEMPLATE" ]] || die "cannot tell the chat template from MODEL_NAME_OR_PATH=$MODEL_NAME_OR_PATH: set TEMPLATE (see \`llmtuner templates\`)."
stage_default VAL_SIZE 0  # evaluating GRPO samples completions too: use llmtuner eval on the saved adapter instead
if (( GPU )); then  # a group of 8 completions per prompt, 8 prompts x 2 accumulation steps per update
  stage_default BATCH_SIZE 8
  stage_default GRAD_ACCUM 2
  stage_default LR 1.0e-5
  stage_default EPOCHS 1
  default NUM_GENERATIONS 8
  default MAX_COMPLETION_LENGTH 512
else  # the tiny random model: short completions, big steps
  stage_default LR 5.0e-3
  default NUM_GENERATIONS 4
  default MAX_COMPLETION_LENGTH 32
fi
default REWARD_FUNCS mcq_correct,format
default REWARD_WEIGHTS 1.0,0.5
default GRPO_BETA 0.0
default USE_VLLM false
default VLLM_MODE colocate
default ADAPTER ""
build_train_args
TRAIN_ARGS+=(--template "$TEMPLATE" --reward_funcs "$REWARD_FUNCS" --reward_weights "$REWARD_WEIGHTS"
             --grpo_num_generations "$NUM_GENERATIONS" --grpo_max_completion_length "$MAX_COMPLETION_LENGTH"
             --grpo_beta "$GRPO_BETA")
case "$USE_VLLM" in 1 | true | yes) TRAIN_ARGS+=(--grpo_use_vllm true --grpo_vllm_mode "$VLLM_MODE") ;; esac
[[ -n "$ADAPTER" ]] && TRAIN_ARGS+=(--adapter_name_or_path "$(from_root "$ADAPTER")" --create_new_adapter true)
launch "$@"
