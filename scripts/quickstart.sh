#!/usr/bin/env bash
# README command 1: from a fresh clone to a fine-tuned, evaluated and exported medical model, on the CPU.
#
#   bash scripts/quickstart.sh            # reuses what an earlier run finished (environment, model, stages)
#   bash scripts/quickstart.sh --clean    # starts the demo over (deletes saves/quickstart only)
#
# Embedded default throughout: the project's tiny model and data/. Stages: environment -> tiny model ->
# evaluation of the base model -> continued pretraining -> LoRA SFT -> evaluation of the tuned model ->
# export (merge) -> two answers from the exported model and a before/after summary. About 5-8 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${QUICKSTART_DIR:-saves/quickstart}"
if [[ "${1:-}" == "--clean" || "${CLEAN:-0}" == 1 ]]; then
  echo "[quickstart] --clean: removing $OUT"
  rm -rf "$OUT"
fi
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false WANDB_MODE=disabled
PY=.venv/bin/python

step() { printf '\n==== [%s/8] %s   (%s, %ds elapsed)\n' "$1" "$2" "$(date +%T)" "$SECONDS"; }
done_already() { echo "     done in an earlier run: $1 (bash scripts/quickstart.sh --clean to redo)"; }

evaluate() {  # evaluate NAME TASK DATASET MODEL_ARGS...
  local name=$1 task=$2 dataset=$3
  shift 3
  if [[ -f "$OUT/eval/$name/metrics.json" ]]; then done_already "$OUT/eval/$name"; return; fi
  "$PY" src/evaluate.py "$@" --template shuzhiqihuang --eval_dataset "$dataset" --task "$task" \
    --output_dir "$OUT/eval/$name" --max_new_tokens 96 --batch_size 16
}

step 1 "environment (.venv)"
bash scripts/setup_env.sh

step 2 "embedded tiny model (models/tiny-shuzhiqihuang, built from data/)"
"$PY" -c 'from llmtuner.model.tiny import ensure_tiny_model; print("     ", ensure_tiny_model())'

step 3 "evaluate the base model: clinical QA and exam questions"
evaluate base_qa qa clinical_qa_sample --model_name_or_path embedded
evaluate base_mcq mcq medical_mcq_sample --model_name_or_path embedded

step 4 "continued pretraining, full parameters (finetune/run_pt_shuzhiqihuang.sh)"
if [[ -f "$OUT/pt/model.safetensors" ]]; then done_already "$OUT/pt"; else
  # the medical corpus plus the text of the SFT samples: a 5M-parameter random model first has to learn the language
  DATASET=medical_pt_sample,medical_sft_sample,medical_dialogue_sample FINETUNING_TYPE=full EPOCHS=6 BATCH_SIZE=4 \
  LR=3e-3 LOGGING_STEPS=10 OUTPUT_DIR="$OUT/pt" OVERWRITE_OUTPUT_DIR=false bash finetune/run_pt_shuzhiqihuang.sh
fi

step 5 "supervised fine-tuning with LoRA (finetune/run_sft_shuzhiqihuang.sh)"
if [[ -f "$OUT/sft/adapter_model.safetensors" ]]; then done_already "$OUT/sft"; else
  # embeddings and head train alongside LoRA: on a tiny model they are most of what there is to learn
  MODEL_NAME_OR_PATH="$OUT/pt" TEMPLATE=shuzhiqihuang LORA_RANK=32 EPOCHS=10 BATCH_SIZE=4 LR=5e-3 LOGGING_STEPS=10 \
  OUTPUT_DIR="$OUT/sft" OVERWRITE_OUTPUT_DIR=false bash finetune/run_sft_shuzhiqihuang.sh --additional_target embed_tokens,lm_head
fi

step 6 "evaluate the fine-tuned model (base + adapter)"
evaluate tuned_qa qa clinical_qa_sample --model_name_or_path "$OUT/pt" --adapter_name_or_path "$OUT/sft"
evaluate tuned_mcq mcq medical_mcq_sample --model_name_or_path "$OUT/pt" --adapter_name_or_path "$OUT/sft"
"$PY" src/evaluate.py --compare "$OUT/eval/base_qa" "$OUT/eval/tuned_qa" --output_dir "$OUT/eval/compare_qa" > /dev/null

step 7 "export: merge the adapter into a release (src/export_model.py)"
if [[ -f "$OUT/release/config.json" ]]; then done_already "$OUT/release"; else
  "$PY" src/export_model.py --model_name_or_path "$OUT/pt" --adapter_name_or_path "$OUT/sft" --template shuzhiqihuang \
    --export_dir "$OUT/release" --eval_report "$OUT/eval/tuned_qa"
fi

step 8 "the exported model answers two questions; summary"
"$PY" scripts/quickstart_summary.py "$OUT"
printf '\n[quickstart] finished in %ds\n' "$SECONDS"
