"""The one place where combinations of arguments are checked.

Every check runs before any model or data is loaded, and every message says what to change.
Dependent defaults (e.g. `qlora` implies 4-bit) are filled here too, so that later code reads
settled values. Checks that need to know the hardware are in `validate_hardware`, which imports
torch and runs just before the training arguments are built.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from ..extras.errors import ConfigError

if TYPE_CHECKING:
    from .eval_parser import EvalArguments
    from .model_args import ModelArguments
    from .parser import Arguments


def _fail(problems: list[str]) -> None:
    if problems:
        raise ConfigError("Invalid configuration:\n  - " + "\n  - ".join(problems))


def _templates() -> str:
    from ..data.template import template_names  # the registry itself, so the list never goes stale

    return ", ".join(template_names())


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _check_model_source(model: "ModelArguments", problems: list[str], loads_quantized: bool = True) -> None:
    """A .gguf model_name_or_path becomes folder + gguf_file; a GGUF base needs the gguf package and its file."""
    import importlib.util

    path = model.model_name_or_path or ""
    if path.endswith(".gguf") and model.gguf_file is None:
        model.model_name_or_path, model.gguf_file = str(Path(path).parent), Path(path).name
    if model.gguf_file is None:
        return
    if importlib.util.find_spec("gguf") is None:
        problems.append("gguf_file needs the gguf package to read GGUF weights: `pip install 'gguf>=0.19'`.")
    folder = Path(model.model_name_or_path or ".")
    if folder.is_dir() and not (folder / model.gguf_file).is_file():
        found = sorted(p.name for p in folder.glob("*.gguf"))
        problems.append(f"gguf_file {model.gguf_file!r} is not in {folder}"
                        + (f"; GGUF files there: {', '.join(found)}." if found else ", which holds no .gguf file."))
    if loads_quantized and model.quantization_bit is not None:
        problems.append("quantization_bit with a GGUF base: GGUF weights are dequantized on load and cannot be "
                        "re-quantized by bitsandbytes in the same step. Use finetuning_type: lora, or export the "
                        "base to safetensors first.")


def _runs_remote_model_code(model: "ModelArguments") -> bool:
    """The model class comes from the model folder (config.json auto_map, trust_remote_code), not transformers."""
    import json

    config = Path(model.model_name_or_path or "") / "config.json"
    if not model.trust_remote_code or not config.is_file():
        return False
    try:
        auto_map = json.loads(config.read_text(encoding="utf-8")).get("auto_map") or {}
    except (OSError, ValueError):
        return False  # an unreadable config is reported when the model loads
    return "AutoModelForCausalLM" in auto_map


def validate_arguments(args: "Arguments", command: str = "train") -> None:
    """Fill dependent defaults and raise one ConfigError listing every problem found."""
    model, data, finetuning, training = args.model, args.data, args.finetuning, args.training
    problems: list[str] = []

    if not model.model_name_or_path:
        problems.append(
            "model_name_or_path is missing. Give a model folder, e.g. `--model_name_or_path /models/Qwen2.5-7B`, "
            "or `--model_name_or_path embedded` for the project's tiny CPU model."
        )

    # finetuning type and quantization
    if finetuning.finetuning_type == "qlora":
        if model.quantization_bit is None:
            model.quantization_bit = 4
        finetuning.finetuning_type = "lora"  # QLoRA is LoRA on a quantized base; the rest of the code sees lora
    _check_model_source(model, problems)
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
    if finetuning.lora_rank <= 0:
        problems.append(f"lora_rank must be positive, got {finetuning.lora_rank}.")
    if finetuning.lora_alpha is None:
        finetuning.lora_alpha = 2 * finetuning.lora_rank
    if not 0.0 <= finetuning.lora_dropout < 1.0:
        problems.append(f"lora_dropout must be in [0, 1), got {finetuning.lora_dropout}.")

    # stage
    if finetuning.stage == "sft" and not data.template:
        problems.append(
            f"stage sft needs a chat template: set `template` to the model family ({_templates()}); shuzhiqihuang is "
            "the medical ChatML template."
        )
    if training.get("predict_with_generate") and finetuning.stage != "sft":
        problems.append(
            f"predict_with_generate only works with stage sft (got stage {finetuning.stage}). "
            "Remove it, or score generations with `python src/evaluate.py`."
        )
    if training.get("do_predict") and finetuning.stage != "sft":
        problems.append(f"do_predict only works with stage sft (got stage {finetuning.stage}).")
    elif training.get("do_predict") and not training.get("predict_with_generate"):
        problems.append("do_predict generates answers for the eval data: add predict_with_generate: true.")
    elif training.get("predict_with_generate") and not training.get("do_predict"):
        problems.append("predict_with_generate takes effect only with do_predict: add do_predict: true (or remove it).")
    if training.get("do_predict") and not data.eval_dataset and data.val_size == 0:
        problems.append("do_predict needs evaluation data: set `eval_dataset`, or `val_size` to hold out part of `dataset`.")

    # data
    if data.train_on_prompt and data.mask_history:
        problems.append("train_on_prompt and mask_history contradict each other (one adds loss, one removes it): pick one.")
    if data.cutoff_len <= 0:
        problems.append(f"cutoff_len must be positive, got {data.cutoff_len}.")
    if data.max_samples is not None and data.max_samples <= 0:
        problems.append(f"max_samples must be positive, got {data.max_samples}.")
    if data.val_size < 0 or (data.val_size >= 1 and data.val_size != int(data.val_size)):
        problems.append(f"val_size must be a fraction in [0, 1) or a whole number of samples, got {data.val_size}.")
    if command == "train" and not any(key in training for key in ("do_train", "do_eval", "do_predict")):
        training["do_train"] = True  # `llmtuner train` with no do_* key means: train (transformers' default is off)
    do_train = training.get("do_train", True)
    if command == "train" and not any(training.get(key) for key in ("do_train", "do_eval", "do_predict")):
        problems.append("do_train, do_eval and do_predict are all false: nothing to run. Set do_train: true to train.")
    if do_train and not data.dataset:
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
    if data.packing and finetuning.stage == "sft" and _runs_remote_model_code(model):
        problems.append(
            f"packing with the model's own code ({model.model_name_or_path} maps AutoModelForCausalLM to its files, "
            "trust_remote_code): packed samples are kept apart by transformers' attention reading position_ids, which "
            "remote model code does not do, so samples would attend to each other. Set packing: false "
            "(PACKING=false for the launcher).")
    datasets = _split(data.dataset)
    if data.interleave_probs is not None:
        if data.mix_strategy == "concat":
            problems.append("interleave_probs is set but mix_strategy is concat: set mix_strategy: interleave_under or interleave_over.")
        try:
            probs = [float(p) for p in _split(data.interleave_probs)]
        except ValueError:
            probs = []
            problems.append(f"interleave_probs must be numbers separated by commas, got {data.interleave_probs!r}.")
        if probs and len(probs) != len(datasets):
            problems.append(f"interleave_probs has {len(probs)} values but dataset names {len(datasets)}: give one per dataset.")
        if probs and (any(p < 0 for p in probs) or abs(sum(probs) - 1.0) > 1e-6):
            problems.append(f"interleave_probs must be non-negative and sum to 1, got {probs}.")

    # precision
    if training.get("bf16") and training.get("fp16"):
        problems.append("bf16 and fp16 are both set: choose one (bf16 on Ampere or newer GPUs, fp16 on older ones).")

    if command == "train" and do_train and not training.get("output_dir"):
        problems.append("output_dir is missing: set where checkpoints and the trained adapter/model go.")

    _fail(problems)


def validate_eval_arguments(args: "EvalArguments") -> None:
    """The evaluator's combinations, checked before any model or data is loaded."""
    model, data, ev = args.model, args.data, args.eval
    problems: list[str] = []
    if ev.compare is not None:
        if len(_split(ev.compare)) != 2:
            problems.append("compare needs exactly two evaluation output folders: --compare DIR_A DIR_B.")
        _fail(problems)
        return  # comparing reads two finished reports; nothing else is needed
    if not ev.output_dir:
        problems.append("output_dir is missing: set where predictions.jsonl, metrics.json and report.md go.")
    if ev.predictions_file:
        if ev.task != "qa":
            problems.append(f"predictions_file holds generated answers, which task qa scores (got task {ev.task}).")
        if model.model_name_or_path or model.adapter_name_or_path:
            problems.append("predictions_file is scored without a model: remove model_name_or_path / adapter_name_or_path.")
    else:
        _check_model_source(model, problems)
        if not model.model_name_or_path:
            problems.append("model_name_or_path is missing: the model to evaluate (a folder, or `embedded` for the tiny "
                            "CPU model), or give predictions_file to score existing answers.")
        if not data.eval_dataset:
            problems.append("eval_dataset is missing: dataset names from dataset_info.json or file paths, comma-separated.")
        if ev.task in ("qa", "mcq") and not data.template:
            problems.append(f"task qa/mcq renders prompts with the model's chat template: set `template` ({_templates()}).")
        if ev.infer_backend == "vllm":
            _check_vllm(args, problems)
    for lexicon in _split(ev.term_lexicon):
        if not Path(lexicon).is_file():
            problems.append(f"term_lexicon {lexicon} does not exist: give a `term<TAB>type` file "
                            "(e.g. ../shared/data/medical_terms.txt), or leave term_lexicon out for the default list.")
    if data.max_samples is not None and data.max_samples <= 0:
        problems.append(f"max_samples must be positive, got {data.max_samples}: an evaluation of nothing scores nothing.")
    if ev.batch_size <= 0:
        problems.append(f"batch_size must be positive, got {ev.batch_size}.")
    if args.generating.max_new_tokens <= 0:
        problems.append(f"max_new_tokens must be positive, got {args.generating.max_new_tokens}.")
    _fail(problems)


def largest_lora_rank(adapter_config: dict) -> int:
    """The adapter's largest LoRA rank: `r`, or a larger one in `rank_pattern`."""
    return max([int(adapter_config.get("r", 8)), *map(int, (adapter_config.get("rank_pattern") or {}).values())])


def _check_vllm(args: "EvalArguments", problems: list[str]) -> None:
    """What vLLM cannot serve, refused before it starts (starting vLLM on a 7B model takes minutes)."""
    import importlib.util
    import json

    model, ev, use_hf = args.model, args.eval, "or use infer_backend: hf"
    if importlib.util.find_spec("vllm") is None:
        problems.append("infer_backend vllm needs vLLM, which is not installed: `pip install vllm` on a GPU server "
                        f"(see README, 评测), {use_hf}.")
    if model.gguf_file:
        problems.append(f"infer_backend vllm does not load GGUF bases here: export the model to safetensors, {use_hf}.")
    if model.quantization_bit is not None:
        problems.append(f"quantization_bit with infer_backend vllm: vLLM does not quantise with bitsandbytes on load. "
                        f"Remove quantization_bit (an adapter trained with QLoRA runs on the 16-bit base), {use_hf}.")
    if model.new_special_tokens or model.resize_vocab:
        problems.append(f"new_special_tokens / resize_vocab with infer_backend vllm: vLLM serves the model's own "
                        f"vocabulary; export the resized model first (`python src/export_model.py`), {use_hf}.")
    if model.rope_scaling is not None:
        problems.append(f"rope_scaling with infer_backend vllm: set it in the model's config.json instead, {use_hf}.")
    if args.generating.num_beams > 1:
        problems.append(f"num_beams {args.generating.num_beams} with infer_backend vllm: vLLM generate() has no beam search; "
                        f"use num_beams: 1, {use_hf}.")
    if not 0 < ev.vllm_gpu_memory_utilization <= 1:
        problems.append(f"vllm_gpu_memory_utilization is a share of GPU memory in (0, 1], got {ev.vllm_gpu_memory_utilization}.")
    if ev.vllm_tensor_parallel_size < 1:
        problems.append(f"vllm_tensor_parallel_size must be at least 1, got {ev.vllm_tensor_parallel_size}.")
    adapters = _split(model.adapter_name_or_path)
    merge = "merge it first with `python src/export_model.py` and evaluate the export"
    if len(adapters) > 1:
        problems.append(f"infer_backend vllm serves one LoRA adapter, got {len(adapters)} ({model.adapter_name_or_path}): "
                        f"{merge}, {use_hf}.")
    for adapter in adapters[:1]:
        config_file = Path(adapter) / "adapter_config.json"
        if not config_file.is_file():
            problems.append(f"adapter_name_or_path {adapter}: no adapter_config.json there. Give the folder a training run saved.")
            continue
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except ValueError as error:
            problems.append(f"{config_file} is not valid JSON ({error}): the adapter folder is damaged; save it again.")
            continue
        if config.get("use_dora"):
            problems.append(f"adapter {adapter} is a DoRA adapter, which vLLM cannot serve: {merge}, {use_hf}.")
        if config.get("modules_to_save") or config.get("trainable_token_indices"):
            problems.append(f"adapter {adapter} also trains whole modules ({config.get('modules_to_save')}; e.g. resized "
                            f"embeddings of an expanded vocabulary), which vLLM's LoRA cannot load: {merge}, {use_hf}.")
        if largest_lora_rank(config) > 512:
            problems.append(f"adapter {adapter} has LoRA rank {largest_lora_rank(config)}; vLLM serves ranks up to 512: "
                            f"{merge}, {use_hf}.")


if TYPE_CHECKING:
    from .export_parser import ExportArgs


def validate_export_arguments(args: "ExportArgs") -> None:
    """The exporter's combinations, checked before any file is read or weights load."""
    model, export = args.model, args.export
    problems: list[str] = []
    if not model.model_name_or_path:
        problems.append("model_name_or_path is missing: the base model the adapter was trained on (a folder, or "
                        "`embedded` for the tiny CPU model).")
    _check_model_source(model, problems, loads_quantized=False)  # the export merges into an unquantised base
    if not export.template:
        problems.append(f"template is missing: give the chat template the adapter was trained with ({_templates()}); "
                        "it goes into the tokenizer.")
    if not export.export_dir:
        problems.append("export_dir is missing: set the folder the merged release is written to.")
    if export.export_size <= 0:
        problems.append(f"export_size is gigabytes per shard and must be positive, got {export.export_size}.")
    if export.verify_tolerance is not None and export.verify_tolerance <= 0:
        problems.append(f"verify_tolerance must be positive, got {export.verify_tolerance}.")
    if export.finetuning_type == "qlora" and model.quantization_bit is None:
        model.quantization_bit = 4  # what `qlora` means in training; here it only says how the adapter was trained
    if model.quantization_bit is not None and not model.adapter_name_or_path:
        problems.append(f"quantization_bit={model.quantization_bit} says an adapter was trained with QLoRA, but no "
                        "adapter_name_or_path is given. For a quantised release use export_quantization_bit.")
    _fail(problems)


def _deepspeed_stage(config: object) -> int | None:
    """The ZeRO stage of a deepspeed config (a path to JSON, or a dict); None when unreadable or absent."""
    import json

    if isinstance(config, str) and Path(config).is_file():
        try:
            config = json.loads(Path(config).read_text(encoding="utf-8"))
        except ValueError:
            return None  # the trainer reports a broken DeepSpeed file itself
    if not isinstance(config, dict):
        return None
    stage = (config.get("zero_optimization") or {}).get("stage")
    return int(stage) if isinstance(stage, (int, str)) and str(stage).isdigit() else None


def validate_hardware(args: "Arguments") -> None:
    """Checks that depend on the machine (imports torch)."""
    import torch

    problems: list[str] = []
    training = args.training
    has_cuda = torch.cuda.is_available()
    if training.get("bf16") and has_cuda and not torch.cuda.is_bf16_supported():
        problems.append(
            f"bf16 is not supported on {torch.cuda.get_device_name(0)} (needs Ampere or newer): use fp16: true instead."
        )
    if training.get("fp16") and not has_cuda:
        problems.append("fp16 mixed precision needs a CUDA GPU; on CPU remove fp16 (fp32), or use bf16 without DeepSpeed.")
    if training.get("bf16") and not has_cuda and training.get("deepspeed"):
        problems.append("bf16 with DeepSpeed needs a GPU; on CPU remove bf16 (DeepSpeed runs in fp32 there).")
    if args.model.quantization_bit is not None:
        import importlib.util

        if importlib.util.find_spec("bitsandbytes") is None:
            problems.append("quantization_bit needs bitsandbytes: `pip install 'bitsandbytes>=0.50.2'`.")
    if args.model.attn_implementation == "flash_attention_2":
        import importlib.util

        if not has_cuda or importlib.util.find_spec("flash_attn") is None:
            problems.append("attn_implementation flash_attention_2 needs a CUDA GPU and the flash-attn package; use sdpa.")
    half_weights = args.model.dtype in ("bfloat16", "float16") or (args.model.dtype == "auto" and has_cuda)
    if half_weights and _deepspeed_stage(training.get("deepspeed")) == 3 and not (training.get("bf16") or training.get("fp16")):
        # ZeRO-3 partitions the weights as loaded and, without mixed precision, keeps the optimizer in that dtype too
        problems.append(f"ZeRO-3 with {args.model.dtype} weights ({'bf16/fp16 on this GPU' if args.model.dtype == 'auto' else 'as set'}) "
                        "but neither bf16 nor fp16 set: the weights and optimizer states would train in half precision "
                        "without fp32 master weights. Set bf16: true (or fp16: true on GPUs without bf16), or dtype: float32.")
    if not has_cuda and training.get("bf16") and not training.get("deepspeed"):
        training["use_cpu"] = True  # transformers refuses bf16 on CPU unless use_cpu says the CPU is meant
    _fail(problems)
