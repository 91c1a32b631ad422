"""The checks of `llmtuner train` and `preview`: every combination, before any model or data is loaded.

Every message says what to change. Dependent defaults (e.g. `qlora` implies 4-bit) are filled here too,
so that later code reads settled values. Checks that need to know the hardware are in
`validate_hardware`, which imports torch and runs just before the training arguments are built.
"""

from pathlib import Path
from typing import Any

from ..extras.constants import DEFAULT_TINY_MODEL_DIR, PROJECT_ROOT
from .checks import (
    check_adapter_folders,
    check_model_source,
    check_template_date,
    deepspeed_stage,
    fail,
    runs_remote_model_code,
    template_list,
)
from .config import TrainConfig
from .data_args import DataArguments
from .finetuning_args import FinetuningArguments
from .model_args import ModelArguments
from .validate_pref import check_preference


def _check_finetuning(model: ModelArguments, finetuning: FinetuningArguments, problems: list[str]) -> None:
    if finetuning.finetuning_type == "qlora":
        if model.quantization_bit is None:
            model.quantization_bit = 4
        finetuning.finetuning_type = "lora"  # QLoRA is LoRA on a quantized base; the rest of the code sees lora
    check_model_source(model, problems)
    if model.quantization_bit is not None and finetuning.finetuning_type != "lora":
        problems.append(
            f"quantization_bit={model.quantization_bit} with finetuning_type={finetuning.finetuning_type}: quantized "
            "weights cannot be trained directly. Use finetuning_type: lora (or qlora), or remove quantization_bit."
        )
    if finetuning.finetuning_type != "lora":
        lora_only = [
            name for name, value in (
                ("use_dora", finetuning.use_dora), ("use_rslora", finetuning.use_rslora),
                ("loraplus_lr_ratio", finetuning.loraplus_lr_ratio), ("additional_target", finetuning.additional_target),
                ("create_new_adapter", finetuning.create_new_adapter),
            ) if value
        ]
        if lora_only:
            problems.append(
                f"{', '.join(lora_only)} only apply to LoRA, but finetuning_type={finetuning.finetuning_type}. "
                "Remove them or set finetuning_type: lora."
            )
        if model.adapter_name_or_path:
            problems.append(
                f"adapter_name_or_path is set but finetuning_type={finetuning.finetuning_type}: adapters are LoRA. "
                "Merge them first with `python src/export_model.py`, or set finetuning_type: lora."
            )
    if finetuning.finetuning_type == "lora":  # a folder that is there but no LoRA adapter fails before any weights load
        check_adapter_folders(model.adapter_name_or_path, problems, must_exist=False,
                              generative=finetuning.stage != "rm")
    if finetuning.lora_rank <= 0:
        problems.append(f"lora_rank must be positive, got {finetuning.lora_rank}.")
    if finetuning.lora_alpha is None:
        finetuning.lora_alpha = 2 * finetuning.lora_rank
    if not 0.0 <= finetuning.lora_dropout < 1.0:
        problems.append(f"lora_dropout must be in [0, 1), got {finetuning.lora_dropout}.")


def _check_stage(config: TrainConfig, problems: list[str]) -> None:
    data, stage, training = config.data, config.finetuning.stage, config.training
    if stage == "sft" and not data.template:
        problems.append(
            f"stage sft needs a chat template: set `template` to the model family ({template_list()}); shuzhiqihuang "
            "is the medical ChatML template."
        )
    if training.get("predict_with_generate") and stage != "sft":
        problems.append(
            f"predict_with_generate only works with stage sft (got stage {stage}). "
            "Remove it, or score generations with `python src/evaluate.py`."
        )
    if training.get("do_predict") and stage != "sft":
        problems.append(f"do_predict only works with stage sft (got stage {stage}).")
    elif training.get("do_predict") and not training.get("predict_with_generate"):
        problems.append("do_predict generates answers for the eval data: add predict_with_generate: true.")
    elif training.get("predict_with_generate") and not training.get("do_predict"):
        problems.append("predict_with_generate takes effect only with do_predict: add do_predict: true (or remove it).")
    if training.get("do_predict") and not data.eval_dataset and data.val_size == 0:
        problems.append("do_predict needs evaluation data: set `eval_dataset`, or `val_size` to hold out part of `dataset`.")


def _check_data(config: TrainConfig, problems: list[str]) -> None:
    data, training = config.data, config.training
    if data.train_on_prompt and data.mask_history:
        problems.append("train_on_prompt and mask_history contradict each other (one adds loss, one removes it): pick one.")
    if data.cutoff_len <= 0:
        problems.append(f"cutoff_len must be positive, got {data.cutoff_len}.")
    if data.max_samples is not None and data.max_samples <= 0:
        problems.append(f"max_samples must be positive, got {data.max_samples}.")
    if data.val_size < 0 or (data.val_size >= 1 and data.val_size != int(data.val_size)):
        problems.append(f"val_size must be a fraction in [0, 1) or a whole number of samples, got {data.val_size}.")
    if training.get("do_train", True) and not data.dataset:
        problems.append("No training data: set `dataset` to names from dataset_info.json or file paths (comma-separated).")
    if training.get("do_eval") and not data.eval_dataset and data.val_size == 0:
        problems.append("do_eval needs evaluation data: set `eval_dataset`, or `val_size` to hold out part of `dataset`.")
    if data.streaming:
        if not training.get("max_steps") or training["max_steps"] <= 0:
            problems.append(
                "streaming reads the data lazily, so the number of steps per epoch is unknown: set `max_steps`."
            )
        if 0 < data.val_size < 1:
            problems.append(
                f"streaming cannot hold out a fraction: set val_size to a whole number of samples (got {data.val_size})."
            )
    if data.packing and config.finetuning.stage == "sft" and runs_remote_model_code(config.model):
        problems.append(
            f"packing with the model's own code ({config.model.model_name_or_path} maps AutoModelForCausalLM to its "
            "files, trust_remote_code): packed samples are kept apart by transformers' attention reading position_ids, "
            "which remote model code does not do, so samples would attend to each other. Set packing: false "
            "(PACKING=false for the launcher).")
    check_template_date(data.template, data.template_date_string, problems)
    _check_interleave(data, problems)


def _check_interleave(data: DataArguments, problems: list[str]) -> None:
    probs = data.interleave_probs
    if probs is None:
        return
    if data.mix_strategy == "concat":
        problems.append("interleave_probs is set but mix_strategy is concat: set mix_strategy: interleave_under or "
                        "interleave_over.")
    datasets = data.dataset or []
    if len(probs) != len(datasets):
        problems.append(f"interleave_probs has {len(probs)} values but dataset names {len(datasets)}: give one per "
                        "dataset.")
    if any(p < 0 for p in probs) or abs(sum(probs) - 1.0) > 1e-6:
        problems.append(f"interleave_probs must be non-negative and sum to 1, got {probs}.")


def _check_output_dir(config: TrainConfig, problems: list[str]) -> None:
    """The run's files must not go into the base model's folder: checkpoints and a saved model (config.json,
    weights, tokenizer) would mix with, or replace, the files the run itself loads."""
    output_dir, base = config.training.get("output_dir"), config.model.model_name_or_path
    if not output_dir or not base:
        return
    folder = PROJECT_ROOT / DEFAULT_TINY_MODEL_DIR if base == "embedded" else Path(base)
    if base != "embedded" and not folder.is_dir():
        return  # a hub id: its files are in the cache, which a path given as output_dir is not
    target, folder = Path(output_dir).resolve(), folder.resolve()
    if target.is_relative_to(folder):
        where = "is the base model's folder" if target == folder else f"is inside the base model's folder {folder}"
        problems.append(f"output_dir {output_dir} {where}: checkpoints and the trained model would be written among "
                        "(and over) the files the run loads. Choose an output_dir outside it, e.g. saves/<run-name>.")


def validate_train_config(config: TrainConfig, command: str = "train") -> None:
    """Fill dependent defaults and raise one ConfigError listing every problem found.

    `command` is "train" or "preview": preview writes nothing, so it needs neither output_dir nor a do_* key.
    """
    model, training = config.model, config.training
    problems: list[str] = []
    if not model.model_name_or_path:
        problems.append(
            "model_name_or_path is missing. Give a model folder, e.g. `--model_name_or_path /models/Qwen2.5-7B`, "
            "or `--model_name_or_path embedded` for the project's tiny CPU model."
        )
    _check_finetuning(model, config.finetuning, problems)
    _check_stage(config, problems)
    check_preference(config, problems)
    if command == "train" and not any(key in training for key in ("do_train", "do_eval", "do_predict")):
        training["do_train"] = True  # `llmtuner train` with no do_* key means: train (transformers' default is off)
    if command == "train" and not any(training.get(key) for key in ("do_train", "do_eval", "do_predict")):
        problems.append("do_train, do_eval and do_predict are all false: nothing to run. Set do_train: true to train.")
    _check_data(config, problems)
    if training.get("bf16") and training.get("fp16"):
        problems.append("bf16 and fp16 are both set: choose one (bf16 on Ampere or newer GPUs, fp16 on older ones).")
    if command == "train" and training.get("do_train", True) and not training.get("output_dir"):
        problems.append("output_dir is missing: set where checkpoints and the trained adapter/model go.")
    if command == "train":
        _check_output_dir(config, problems)
    _check_uploads(config, problems)
    _check_numbers(config.training, problems)
    fail(problems)


# training keys whose value must be > 0 (or >= 0), when given: a 0 here fails deep inside the trainer, or trains nothing
POSITIVE = ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps", "learning_rate",
            "num_train_epochs", "save_steps", "logging_steps", "eval_steps")
NON_NEGATIVE = ("warmup_steps", "weight_decay", "max_grad_norm", "save_total_limit")


def _check_numbers(training: dict[str, Any], problems: list[str]) -> None:
    def number(key: str) -> float | None:
        value = training.get(key)
        if isinstance(value, str):  # fields transformers annotates as unions (`int | float`) arrive as text
            try:
                return float(value)
            except ValueError:
                return None  # not a number: transformers' own parsing names it
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    for key in POSITIVE:
        if (value := number(key)) is not None and value <= 0:
            problems.append(f"{key} must be greater than 0, got {value}.")
    for key in NON_NEGATIVE:
        if (value := number(key)) is not None and value < 0:
            problems.append(f"{key} must not be negative, got {value}.")
    max_steps = number("max_steps")
    if max_steps is not None and (max_steps == 0 or max_steps < -1):
        problems.append(f"max_steps must be a positive number of steps (or -1: use num_train_epochs), got {max_steps}.")


# trackers that send runs to a server; tensorboard and dvclive write locally, wandb records offline unless told
REMOTE_TRACKERS = ("azure_ml", "clearml", "codecarbon", "comet_ml", "dagshub", "flyte", "mlflow", "neptune", "swanlab", "trackio")


def _check_uploads(config: TrainConfig, problems: list[str]) -> None:
    """Nothing leaves the machine unless the user says so: push_to_hub and remote trackers need allow_upload."""
    if config.finetuning.allow_upload:
        return
    training = config.training
    report_to = training.get("report_to") or []
    report_to = [report_to] if isinstance(report_to, str) else list(report_to)
    remote = sorted({name for name in report_to if name in REMOTE_TRACKERS} | ({"all"} if "all" in report_to else set()))
    if remote:
        problems.append(f"report_to {', '.join(remote)} sends metrics and run settings to a server. Use tensorboard or wandb "
                        "(offline by default), or set allow_upload: true if this data may leave the machine.")
    if training.get("push_to_hub"):
        problems.append("push_to_hub uploads the trained model to a hub. Set allow_upload: true if it may leave the "
                        "machine, or remove push_to_hub and copy the output_dir yourself.")


def validate_hardware(config: TrainConfig) -> None:
    """Checks that depend on the machine (imports torch); changes nothing."""
    import importlib.util

    import torch

    problems: list[str] = []
    training: dict[str, Any] = config.training
    has_cuda = torch.cuda.is_available()
    if training.get("bf16") and has_cuda and not torch.cuda.is_bf16_supported():
        problems.append(
            f"bf16 is not supported on {torch.cuda.get_device_name(0)} (needs Ampere or newer): use fp16: true instead."
        )
    if training.get("fp16") and not has_cuda:
        problems.append("fp16 mixed precision needs a CUDA GPU; on CPU remove fp16 (fp32), or use bf16 without DeepSpeed.")
    if training.get("bf16") and not has_cuda and training.get("deepspeed"):
        problems.append("bf16 with DeepSpeed needs a GPU; on CPU remove bf16 (DeepSpeed runs in fp32 there).")
    if config.model.quantization_bit is not None and importlib.util.find_spec("bitsandbytes") is None:
        problems.append("quantization_bit needs bitsandbytes: `pip install 'bitsandbytes>=0.50.2'`.")
    flash = config.model.attn_implementation == "flash_attention_2"
    if flash and (not has_cuda or importlib.util.find_spec("flash_attn") is None):
        problems.append("attn_implementation flash_attention_2 needs a CUDA GPU and the flash-attn package; use sdpa.")
    dtype = config.model.dtype
    half_weights = dtype in ("bfloat16", "float16") or (dtype == "auto" and has_cuda)
    if half_weights and deepspeed_stage(training.get("deepspeed")) == 3 and not (training.get("bf16") or training.get("fp16")):
        # ZeRO-3 partitions the weights as loaded and, without mixed precision, keeps the optimizer in that dtype too
        problems.append(f"ZeRO-3 with {dtype} weights ({'bf16/fp16 on this GPU' if dtype == 'auto' else 'as set'}) "
                        "but neither bf16 nor fp16 set: the weights and optimizer states would train in half precision "
                        "without fp32 master weights. Set bf16: true (or fp16: true on GPUs without bf16), or dtype: float32.")
    fail(problems)
