# Shared by run_pt_shuzhiqihuang.sh and run_sft_shuzhiqihuang.sh: sourced, not run.
# The caller sets STAGE (pt|sft), then calls: setup_settings; build_train_args; add flags to TRAIN_ARGS; launch "$@".
# Every setting is an environment variable (see README, "启动脚本"); flags given to the script go last and win.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SETTINGS=()  # "NAME  value  (env|default)" lines, printed before launching

die() { echo "$(basename "$0"): error: $*" >&2; exit 2; }

# default NAME VALUE: keep $NAME when the environment sets it, else use VALUE; remember it for the summary.
default() {
  local origin=env
  if [[ -z "${!1:-}" ]]; then printf -v "$1" '%s' "$2"; origin=default; fi
  SETTINGS+=("$(printf '%-22s %s  (%s)' "$1" "${!1:--}" "$origin")")
}

detect_gpus() {  # the GPUs this node's processes will see
  if [[ -n "${CUDA_VISIBLE_DEVICES+set}" ]]; then
    awk -F, '{ n = 0; for (i = 1; i <= NF; i++) if ($i != "" && $i != "-1") n++; print n }' <<<"$CUDA_VISIBLE_DEVICES"
  else
    local count
    count="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)"  # one "GPU i: ..." line per device (MIG lines are indented)
    if [[ "${count:-0}" == 0 ]]; then  # no nvidia-smi on PATH (containers often lack it): ask torch
      count="$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)"
    fi
    echo "${count:-0}"
  fi
}

# A relative path that is not there from the current directory is taken from the repository root.
from_root() { if [[ -n "$1" && "$1" != /* && ! -e "$1" && -e "$ROOT/$1" ]]; then echo "$ROOT/$1"; else echo "$1"; fi; }

guess_template() {  # chat template from the model's folder name; SFT on an unknown family must say it
  case "$(basename "${1%/}" | tr '[:upper:]' '[:lower:]')" in
    embedded) echo shuzhiqihuang ;;
    *qwen3*) echo qwen3 ;;
    *qwen2.5* | *qwen2_5*) echo qwen ;;
    *qwen2-* | *qwen2_* | *qwen2) echo qwen2 ;;  # Qwen2: "You are a helpful assistant.", not Qwen2.5's system prompt
    *qwen*) echo qwen ;;
    *llama-3.[123]* | *llama3.[123]* | *llama-3_[123]* | *llama3_[123]*) echo llama3.1 ;;  # the date header
    *llama-3* | *llama3*) echo llama3 ;;
    *chatglm3*) echo chatglm3 ;;
    *baichuan2*) echo baichuan2 ;;
    *internlm2*) echo intern2 ;;
    yi-* | yi1*) echo yi ;;
  esac
}

setup_settings() {
  default PYTHON "$([[ -x "$ROOT/.venv/bin/python" ]] && echo "$ROOT/.venv/bin/python" || echo python3)"
  default NUM_GPUS "$(detect_gpus)"
  [[ "$NUM_GPUS" =~ ^[0-9]+$ ]] || die "NUM_GPUS must be a number, got '$NUM_GPUS'."
  HOSTFILE="$(from_root "${HOSTFILE:-}")"
  if (( NUM_GPUS > 0 )) || [[ -n "$HOSTFILE" ]]; then GPU=1; else GPU=0; fi

  if (( GPU )); then
    [[ -n "${MODEL_NAME_OR_PATH:-}" ]] || die "MODEL_NAME_OR_PATH is not set. On a GPU machine give the base model, e.g.
  MODEL_NAME_OR_PATH=/models/Qwen2.5-7B-Instruct bash $0
(or MODEL_NAME_OR_PATH=embedded for the project's tiny model)."
  fi
  default MODEL_NAME_OR_PATH embedded
  default FINETUNING_TYPE lora
  case "$FINETUNING_TYPE" in lora | qlora | freeze | full) ;; *) die "FINETUNING_TYPE must be lora, qlora, freeze or full, got '$FINETUNING_TYPE'." ;; esac
  local lora=0; [[ "$FINETUNING_TYPE" == *lora ]] && lora=1

  if [[ "$STAGE" == sft ]]; then
    default DATASET medical_sft_sample,medical_dialogue_sample
    default TEMPLATE "$(guess_template "$MODEL_NAME_OR_PATH")"
    [[ -n "$TEMPLATE" ]] || die "cannot tell the chat template from MODEL_NAME_OR_PATH=$MODEL_NAME_OR_PATH: set TEMPLATE (see \`llmtuner templates\`)."
    default PACKING true
  else
    default DATASET medical_pt_sample
  fi
  default DATASET_DIR "$ROOT/data"
  DATASET_DIR="$(from_root "$DATASET_DIR")"
  default OUTPUT_DIR "$ROOT/saves/$(basename "${MODEL_NAME_OR_PATH%/}")/$FINETUNING_TYPE/$STAGE"

  if (( GPU )); then  # the real run
    default CUTOFF_LEN 2048
    default BATCH_SIZE "$([[ "$STAGE" == pt ]] && echo 4 || echo 2)"
    default GRAD_ACCUM 8
    default LR "$( (( lora )) && echo 1.0e-4 || echo 1.0e-5)"
    default EPOCHS "$([[ "$STAGE" == pt ]] && echo 1 || echo 3)"
    default SAVE_STEPS 500
    default LOGGING_STEPS 10
    default VAL_SIZE "$([[ "$STAGE" == pt ]] && echo 0.01 || echo 0.02)"
    default BF16 1
    default GRADIENT_CHECKPOINTING true
    default DS_CONFIG "$ROOT/deepspeed_config.json"
    default OVERWRITE_OUTPUT_DIR false  # resume from the last checkpoint instead
  else  # the CPU demo on the embedded tiny model: a few minutes on 2 cores
    default CUTOFF_LEN 512
    default BATCH_SIZE 8
    default GRAD_ACCUM 1
    default LR "$( (( lora )) && echo 2.0e-3 || echo 1.0e-3)"
    default EPOCHS "$([[ "$STAGE" == pt ]] && echo 1 || echo 2)"
    default SAVE_STEPS 100
    default LOGGING_STEPS 5
    default VAL_SIZE 0
    default GRADIENT_CHECKPOINTING false  # recomputation costs more than it saves on a tiny model
    default DS_CONFIG none
    # only the tiny demo model starts over by default: a run of any other model resumes, never overwrites
    default OVERWRITE_OUTPUT_DIR "$([[ "$MODEL_NAME_OR_PATH" == embedded ]] && echo true || echo false)"
  fi
  default MAX_STEPS ""
  if (( lora )); then
    default LORA_RANK "$([[ "$STAGE" == pt && "$GPU" == 1 ]] && echo 32 || echo 16)"
    default LORA_TARGET all
  fi
  default REPORT_TO none
  DS_CONFIG="$(from_root "$DS_CONFIG")"
  [[ "$DS_CONFIG" == none || -f "$DS_CONFIG" ]] || die "DS_CONFIG=$DS_CONFIG does not exist (use none to train without DeepSpeed)."

  default LAUNCHER auto
  default NNODES 1
  [[ "$NNODES" =~ ^[0-9]+$ ]] || die "NNODES must be a number, got '$NNODES'."
  if [[ "$LAUNCHER" == auto ]]; then
    if [[ -n "$HOSTFILE" ]]; then LAUNCHER=deepspeed
    elif (( NNODES > 1 )); then LAUNCHER=torchrun
    elif (( NUM_GPUS > 1 )); then LAUNCHER=deepspeed
    else LAUNCHER=python; fi
  fi
  case "$LAUNCHER" in python | deepspeed | torchrun) ;; *) die "LAUNCHER must be auto, deepspeed, torchrun or python, got '$LAUNCHER'." ;; esac
  [[ -z "$HOSTFILE" || "$LAUNCHER" == deepspeed ]] || die "HOSTFILE is read by the deepspeed launcher; with LAUNCHER=$LAUNCHER use NNODES/NODE_RANK/MASTER_ADDR."
  [[ -z "$HOSTFILE" || -f "$HOSTFILE" ]] || die "HOSTFILE=$HOSTFILE does not exist (see configs/hostfile.example)."
  if [[ "$LAUNCHER" != python ]]; then
    default NPROC_PER_NODE "$(( NUM_GPUS > 0 ? NUM_GPUS : 1 ))"
    default MASTER_PORT 29500
    [[ -n "$HOSTFILE" ]] && default HOSTFILE "$HOSTFILE"
    if (( NNODES > 1 )); then
      [[ -n "${MASTER_ADDR:-}" ]] || die "NNODES=$NNODES needs MASTER_ADDR: the address of the node with NODE_RANK=0."
      default NODE_RANK 0
      default MASTER_ADDR ""
    fi
  fi
}

# TRAIN_ARGS: the flags both stages share, from the settings.
build_train_args() {
  TRAIN_ARGS=(
    --stage "$STAGE" --model_name_or_path "$MODEL_NAME_OR_PATH" --finetuning_type "$FINETUNING_TYPE"
    --dataset "$DATASET" --dataset_dir "$DATASET_DIR" --cutoff_len "$CUTOFF_LEN"
    --output_dir "$OUTPUT_DIR" --overwrite_output_dir "$OVERWRITE_OUTPUT_DIR" --do_train true
    --per_device_train_batch_size "$BATCH_SIZE" --gradient_accumulation_steps "$GRAD_ACCUM"
    --learning_rate "$LR" --num_train_epochs "$EPOCHS" --lr_scheduler_type cosine --warmup_steps 0.03
    --save_steps "$SAVE_STEPS" --logging_steps "$LOGGING_STEPS" --report_to "$REPORT_TO"
    --gradient_checkpointing "$GRADIENT_CHECKPOINTING"
  )
  [[ "$FINETUNING_TYPE" == qlora ]] && TRAIN_ARGS+=(--quantization_bit 4)  # what validate.py fills in anyway
  [[ "$FINETUNING_TYPE" == *lora ]] && TRAIN_ARGS+=(--lora_rank "$LORA_RANK" --lora_target "$LORA_TARGET")
  [[ -n "$MAX_STEPS" ]] && TRAIN_ARGS+=(--max_steps "$MAX_STEPS")
  if awk -v v="$VAL_SIZE" 'BEGIN { exit !(v + 0 > 0) }'; then  # hold out data and evaluate every SAVE_STEPS
    TRAIN_ARGS+=(--val_size "$VAL_SIZE" --eval_strategy steps --eval_steps "$SAVE_STEPS" --per_device_eval_batch_size "$BATCH_SIZE")
  fi
  if (( GPU )); then
    case "$BF16" in 0 | false | no) TRAIN_ARGS+=(--fp16 true) ;; *) TRAIN_ARGS+=(--bf16 true) ;; esac
  fi
  [[ "$DS_CONFIG" != none ]] && TRAIN_ARGS+=(--deepspeed "$DS_CONFIG")
  return 0
}

quote() {  # shell words, quoted only where needed (the printed command can be pasted back)
  local word out=()
  for word in "$@"; do
    if [[ "$word" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then out+=("$word"); else out+=("'${word//\'/\'\\\'\'}'"); fi
  done
  echo "${out[*]}"
}

deepspeed_launcher() {  # the deepspeed command of the same Python, else the one on PATH, else the module
  local beside; beside="$(dirname "$PYTHON")/deepspeed"
  if [[ "$PYTHON" == */* && -x "$beside" ]]; then echo "$beside"
  elif command -v deepspeed >/dev/null; then command -v deepspeed
  else echo "$PYTHON -m deepspeed.launcher.runner"; fi
}

# launch EXTRA_ARGS...: print the settings and the command, then run it (DRY_RUN=1: print only).
launch() {
  local script="$ROOT/src/train_bash.py" cmd
  case "$LAUNCHER" in
    python)
      cmd=()
      if (( GPU )) && [[ "$DS_CONFIG" != none ]]; then  # DeepSpeed wants a process group, even a world of one
        cmd=(env RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 "MASTER_PORT=${MASTER_PORT:-29500}")
      fi
      cmd+=("$PYTHON" "$script") ;;
    deepspeed)
      read -ra cmd <<<"$(deepspeed_launcher)"
      if [[ -n "$HOSTFILE" ]]; then cmd+=(--hostfile "$HOSTFILE")
      elif [[ -z "${CUDA_VISIBLE_DEVICES:-}" ]]; then cmd+=(--num_gpus "$NPROC_PER_NODE")
      fi  # else deepspeed turns CUDA_VISIBLE_DEVICES into --include itself (--num_gpus would ignore it)
      [[ -n "${MASTER_ADDR:-}" ]] && cmd+=(--master_addr "$MASTER_ADDR")
      cmd+=(--master_port "$MASTER_PORT" "$script") ;;
    torchrun)
      cmd=("$PYTHON" -m torch.distributed.run --nproc_per_node "$NPROC_PER_NODE")
      (( NNODES > 1 )) && cmd+=(--nnodes "$NNODES" --node_rank "$NODE_RANK" --master_addr "$MASTER_ADDR")
      cmd+=(--master_port "$MASTER_PORT" "$script") ;;
  esac
  cmd+=("${TRAIN_ARGS[@]}" "$@")

  local where="CPU (no GPU found)"; (( GPU )) && where="$NUM_GPUS GPU(s) on this node"
  echo "[数智岐黄] stage $STAGE on $where, launcher: $LAUNCHER"
  printf '  %s\n' "${SETTINGS[@]}"
  echo "[数智岐黄] command:"
  quote "${cmd[@]}"
  [[ "${DRY_RUN:-0}" == 1 ]] && return 0
  exec "${cmd[@]}"
}

# stage_default NAME VALUE: a stage launcher's default in place of the one setup_settings gave (a value the environment
# set stays): e.g. the preference stages' dataset and learning rate.
stage_default() {
  local i
  for i in "${!SETTINGS[@]}"; do
    if [[ "${SETTINGS[$i]}" == "$1 "* ]]; then
      [[ "${SETTINGS[$i]}" == *"(default)" ]] || return 0
      unset 'SETTINGS[i]'
      unset "$1"
    fi
  done
  default "$1" "$2"
}
