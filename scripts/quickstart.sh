#!/usr/bin/env bash
# README command 1: from a fresh clone to a fine-tuned, evaluated and exported medical model, on the CPU.
#
#   bash scripts/quickstart.sh            # reuses what an earlier run finished (environment, model, stages)
#   bash scripts/quickstart.sh --clean    # starts the demo over (removes the demo folder, only if the demo made it)
#   bash scripts/quickstart.sh --smoke    # every stage for a few steps (what CI runs); its figures mean nothing
#
# Embedded default throughout: the project's tiny model and data/. Stages: environment -> tiny model ->
# evaluation of the base model -> continued pretraining -> LoRA SFT -> evaluation of the tuned model ->
# export (merge) -> two answers from the exported model and a before/after summary. About 6-8 minutes on 2 cores.
# Reproducible: fixed seeds, deterministic algorithms and a fixed thread count (QUICKSTART_THREADS, default 2),
# so two runs on one machine print the same table. QUICKSTART_DIR chooses the output folder.
set -euo pipefail
cd "$(dirname "$0")/.."
CLEAN=0  # flags only: a CLEAN or SMOKE variable left in a user's environment must not delete or shorten anything
SMOKE=0
for arg in "$@"; do
  case "$arg" in
    --clean) CLEAN=1 ;;
    --smoke) SMOKE=1 ;;
    *) echo "quickstart.sh: unknown option '$arg' (use --clean and/or --smoke)" >&2; exit 2 ;;
  esac
done
if [[ "$SMOKE" == 1 ]]; then OUT="${QUICKSTART_DIR:-saves/quickstart-smoke}"; else OUT="${QUICKSTART_DIR:-saves/quickstart}"; fi
MARKER="$OUT/.quickstart-demo"  # --clean removes only a folder this script made
if [[ "$CLEAN" == 1 && -d "$OUT" ]]; then
  if [[ -f "$MARKER" || -z "$(ls -A "$OUT")" ]]; then
    echo "[quickstart] --clean: removing $OUT"
    rm -rf "$OUT"
  else
    echo "quickstart.sh: $OUT was not made by this demo (no $MARKER); not removing it. Choose another QUICKSTART_DIR." >&2
    exit 2
  fi
fi
if [[ -d "$OUT" && -n "$(ls -A "$OUT")" && ! -f "$MARKER" ]]; then
  echo "quickstart.sh: $OUT holds files this demo did not write; choose another QUICKSTART_DIR." >&2
  exit 2
fi
mkdir -p "$OUT"
touch "$MARKER"
THREADS="${QUICKSTART_THREADS:-2}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false WANDB_MODE=disabled
# one thread count everywhere: CPU kernels split sums by thread, so another count rounds differently
export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
PY=.venv/bin/python
SHARED_DATA="${SHUZHIQIHUANG_SHARED:-../shared}/data"

if [[ "$SMOKE" == 1 ]]; then
  echo "[quickstart] --smoke: a few steps per stage and a few evaluation samples; the figures below mean nothing"
  PT_SCHEDULE=(MAX_STEPS=3) SFT_SCHEDULE=(MAX_STEPS=3) EVAL_LIMIT=(--max_samples 4 --max_new_tokens 16)
else
  PT_SCHEDULE=(EPOCHS=6) SFT_SCHEDULE=(EPOCHS=10) EVAL_LIMIT=(--max_new_tokens 96)
fi

step() { printf '\n==== [%s/8] %s   (%s, %ds elapsed)\n' "$1" "$2" "$(date +%T)" "$SECONDS"; }
done_already() { echo "     done in an earlier run: $1 (bash scripts/quickstart.sh --clean to redo)"; }

evaluate() {  # evaluate NAME TASK DATASET DATASET_DIR MODEL_ARGS...
  local name=$1 task=$2 dataset=$3 dataset_dir=$4
  shift 4
  if [[ -f "$OUT/eval/$name/metrics.json" ]]; then done_already "$OUT/eval/$name"; return; fi
  "$PY" src/evaluate.py "$@" --template shuzhiqihuang --eval_dataset "$dataset" --dataset_dir "$dataset_dir" --task "$task" \
    --output_dir "$OUT/eval/$name" --batch_size 16 "${EVAL_LIMIT[@]}"
}

evaluate_all() {  # evaluate_all PREFIX MODEL_ARGS...: the sample QA and exam sets, and the shared dev set when present
  local prefix=$1
  shift
  evaluate "${prefix}_qa" qa clinical_qa_sample data "$@"
  evaluate "${prefix}_mcq" mcq medical_mcq_sample data "$@"
  if [[ -f "$SHARED_DATA/clinical_qa_dev.json" ]]; then
    evaluate "${prefix}_dev" qa clinical_qa_dev "$SHARED_DATA" "$@"
  fi
}

step 1 "environment (.venv)"
bash scripts/setup_env.sh

step 2 "embedded tiny model (models/tiny-shuzhiqihuang, built from data/)"
"$PY" -c 'from llmtuner.model.tiny import ensure_tiny_model; print("     ", ensure_tiny_model())'

step 3 "evaluate the base model: clinical QA and exam questions"
evaluate_all base --model_name_or_path embedded

step 4 "continued pretraining, full parameters (finetune/run_pt_shuzhiqihuang.sh)"
if [[ -f "$OUT/pt/model.safetensors" ]]; then done_already "$OUT/pt"; else
  # the medical corpus plus the text of the SFT samples: a 5M-parameter random model first has to learn the language
  env "${PT_SCHEDULE[@]}" DATASET=medical_pt_sample,medical_sft_sample,medical_dialogue_sample FINETUNING_TYPE=full \
    BATCH_SIZE=4 LR=3e-3 LOGGING_STEPS=10 OUTPUT_DIR="$OUT/pt" OVERWRITE_OUTPUT_DIR=false \
    bash finetune/run_pt_shuzhiqihuang.sh
fi

step 5 "supervised fine-tuning with LoRA (finetune/run_sft_shuzhiqihuang.sh)"
if [[ -f "$OUT/sft/adapter_model.safetensors" ]]; then done_already "$OUT/sft"; else
  # embeddings and head train alongside LoRA: on a tiny model they are most of what there is to learn
  env "${SFT_SCHEDULE[@]}" MODEL_NAME_OR_PATH="$OUT/pt" TEMPLATE=shuzhiqihuang LORA_RANK=32 BATCH_SIZE=4 LR=5e-3 \
    LOGGING_STEPS=10 OUTPUT_DIR="$OUT/sft" OVERWRITE_OUTPUT_DIR=false \
    bash finetune/run_sft_shuzhiqihuang.sh --additional_target embed_tokens,lm_head
fi

step 6 "evaluate the fine-tuned model (base + adapter)"
evaluate_all tuned --model_name_or_path "$OUT/pt" --adapter_name_or_path "$OUT/sft"
"$PY" src/evaluate.py --compare "$OUT/eval/base_qa" "$OUT/eval/tuned_qa" --output_dir "$OUT/eval/compare_qa" > /dev/null

step 7 "export: merge the adapter into a release (src/export_model.py)"
if [[ -f "$OUT/release/config.json" ]]; then done_already "$OUT/release"; else
  "$PY" src/export_model.py --model_name_or_path "$OUT/pt" --adapter_name_or_path "$OUT/sft" --template shuzhiqihuang \
    --export_dir "$OUT/release" --eval_report "$OUT/eval/tuned_qa"
fi

step 8 "the exported model answers two questions; summary"
"$PY" scripts/quickstart_summary.py "$OUT"
printf '\n[quickstart] finished in %ds\n' "$SECONDS"
