"""Decide which parameters train: LoRA (incl. QLoRA, DoRA, rsLoRA), freeze (last layers), or full.

Adapters come from peft; this module only translates our arguments into peft's and checks
module names against the model, listing the valid ones when a name is wrong.
"""

import re
from typing import Any

from ..extras.errors import ConfigError
from ..extras.logging import get_logger
from ..hparams import FinetuningArguments, ModelArguments
from ..hparams.checks import check_adapter_folders, fail
from .embeddings import embedding_module_names, lora_tie_embeddings, needs_trainable_embeddings, unfreeze_embeddings

logger = get_logger(__name__)

OUTPUT_LAYER_NAMES = ("lm_head", "output_layer", "embed_out")
_LAYER_INDEX = re.compile(r"\.(\d+)\.")  # model.layers.11.mlp... -> 11


def linear_module_names(model: Any) -> list[str]:
    """Leaf names of the linear layers LoRA can target (quantized linears included, output head excluded)."""
    import torch

    names = set()
    for full_name, module in model.named_modules():
        is_linear = isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Linear4bit", "Linear8bitLt")
        leaf = full_name.split(".")[-1]
        if is_linear and leaf not in OUTPUT_LAYER_NAMES:
            names.add(leaf)
    return sorted(names)


def _check_names(requested: list[str], valid: list[str], what: str) -> None:
    wrong = [name for name in requested if name not in valid]
    if wrong:
        raise ConfigError(f"{what}: {', '.join(wrong)} not found in this model. Valid names: {', '.join(valid)}.")


def check_lora_names(model: Any, args: FinetuningArguments) -> tuple[list[str], list[str]]:
    """(target modules, additional modules) of lora_target / additional_target, checked against the model."""
    valid = linear_module_names(model)
    targets = list(args.lora_target)
    if targets == ["all"]:
        targets = valid
    else:
        _check_names(targets, valid, "lora_target")
    extra = list(args.additional_target or [])
    if extra:
        module_leaves = sorted({name.split(".")[-1] for name, _ in model.named_modules() if name})
        _check_names(extra, module_leaves, "additional_target")
    return targets, extra


def check_adapters(model_args: ModelArguments) -> None:
    """Each adapter_name_or_path is a complete LoRA adapter folder (config of peft_type LORA, weights), or a
    ConfigError names it and the fix: peft's own errors come from deep inside, after the base weights loaded."""
    problems: list[str] = []
    check_adapter_folders(model_args.adapter_name_or_path, problems, complete=True)
    fail(problems)


def _apply_lora(model: Any, model_args: ModelArguments, args: FinetuningArguments, is_trainable: bool,
                train_embeddings: bool) -> Any:
    from peft import LoraConfig, PeftModel, TaskType, get_peft_model

    check_adapters(model_args)
    adapters = list(model_args.adapter_name_or_path or [])
    resume_last = is_trainable and adapters and not args.create_new_adapter
    to_merge = adapters[:-1] if resume_last else adapters
    if model_args.quantization_bit is not None and to_merge and is_trainable:
        raise ConfigError("Stacking adapters onto a quantized base would merge into 4/8-bit weights. Merge them "
                          "into the full-precision base first with `python src/export_model.py`.")
    for path in to_merge:  # earlier adapters become part of the base
        model = PeftModel.from_pretrained(model, path).merge_and_unload()
        logger.info("Merged adapter %s into the base.", path)
    if resume_last:
        model = PeftModel.from_pretrained(model, adapters[-1], is_trainable=True)
        logger.info("Resumed training adapter %s.", adapters[-1])
        return model
    if not is_trainable:
        return model
    if model_args.quantization_bit is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)  # the trainer enables it
    targets, extra = check_lora_names(model, args)
    if not extra and needs_trainable_embeddings(train_embeddings, args):  # new token rows must learn, LoRA alone cannot train them
        extra = embedding_module_names(model)
        logger.info("Vocabulary resized: training %s in full beside LoRA (peft modules_to_save).", ", ".join(extra))
    config = LoraConfig(
        task_type=TaskType.CAUSAL_LM, r=args.lora_rank, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        target_modules=targets, modules_to_save=extra or None, use_dora=args.use_dora, use_rslora=args.use_rslora,
        ensure_weight_tying=lora_tie_embeddings(model, extra),
    )
    return get_peft_model(model, config)


def check_freeze_names(model: Any, args: FinetuningArguments) -> tuple[range, list[str], list[str]]:
    """(trainable layer ids, in-layer modules, extra top-level modules) of the freeze arguments, checked."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    num_layers = getattr(config, "num_hidden_layers", None) or getattr(config, "num_layers", None)
    if not num_layers:
        raise ConfigError("freeze: this model's config has no num_hidden_layers; use finetuning_type lora or full.")
    count = args.freeze_trainable_layers
    if count == 0 or abs(count) > num_layers:
        raise ConfigError(f"freeze_trainable_layers={count}: the model has {num_layers} layers; use 1..{num_layers} "
                          f"(last N) or -1..-{num_layers} (first N).")
    layer_ids = range(num_layers - count, num_layers) if count > 0 else range(-count)
    in_layer_modules = sorted({  # every module name between the layer index and the parameter: mlp, self_attn, q_proj, ...
        part for name, _ in model.named_parameters() if (match := _LAYER_INDEX.search(name))
        for part in name[match.end():].split(".")[:-1]
    })
    modules = list(args.freeze_trainable_modules)
    if modules != ["all"]:
        _check_names(modules, in_layer_modules, "freeze_trainable_modules")
    extra = list(args.freeze_extra_modules or [])
    top_level = sorted({name.split(".")[-2] for name, _ in model.named_parameters() if not _LAYER_INDEX.search(name)})
    _check_names(extra, top_level, "freeze_extra_modules")
    return layer_ids, modules, extra


def _apply_freeze(model: Any, args: FinetuningArguments) -> None:
    layer_ids, modules, extra = check_freeze_names(model, args)
    wanted_layers = {str(i) for i in layer_ids}
    for name, param in model.named_parameters():
        match = _LAYER_INDEX.search(name)
        if match:
            in_scope = match.group(1) in wanted_layers
            train = in_scope and (modules == ["all"] or any(f".{m}." in f".{name}" for m in modules))
        else:
            train = any(f".{m}." in f".{name}" for m in extra)
        param.requires_grad_(train)


def _numel(param: Any) -> int:
    return getattr(param, "ds_numel", param.numel())  # a ZeRO-3 shard placeholder has numel 0


def init_adapter(model: Any, model_args: ModelArguments, args: FinetuningArguments, is_trainable: bool,
                 zero3: bool = False, vocab_changed: bool = False) -> Any:
    """Apply the finetuning type; trainable parameters are kept in fp32 for stable optimizer updates.

    `vocab_changed` (the embeddings were resized, or tokens added): the embeddings train as well, since
    their new rows are untrained.

    Not under ZeRO-3: there the parameters are partitioned placeholders whose shards DeepSpeed owns (and it
    keeps fp32 master weights itself), so casting the placeholders would only desynchronise them.
    """
    import torch

    if args.finetuning_type == "lora":
        model = _apply_lora(model, model_args, args, is_trainable, vocab_changed)
    elif args.finetuning_type == "freeze" and is_trainable:
        _apply_freeze(model, args)
        if needs_trainable_embeddings(vocab_changed, args):
            unfreeze_embeddings(model)
    if is_trainable and not zero3:
        for param in model.parameters():
            if param.requires_grad and param.dtype in (torch.float16, torch.bfloat16):
                param.data = param.data.float()
    if is_trainable:
        trainable = sum(_numel(p) for p in model.parameters() if p.requires_grad)
        total = sum(_numel(p) for p in model.parameters())
        logger.info("Trainable parameters: %s of %s (%.4f%%), finetuning type %s.",
                    f"{trainable:,}", f"{total:,}", 100 * trainable / max(total, 1), args.finetuning_type)
    return model


def check_module_names_early(model_args: ModelArguments, args: FinetuningArguments) -> None:
    """Check the adapter folders, and lora_target / additional_target / freeze names against the architecture,
    before the data is tokenised and the weights load (minutes on a 7B model): the model is built from its config
    on the meta device, which allocates nothing. Models whose code cannot be built that way are checked when they
    load, as before."""
    if args.finetuning_type == "lora":
        check_adapters(model_args)  # a folder that is no LoRA adapter fails here, not after the weights load
    resumes_adapter = args.finetuning_type == "lora" and model_args.adapter_name_or_path and not args.create_new_adapter
    if args.finetuning_type not in ("lora", "freeze") or resumes_adapter:
        return
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from .loader import resolve_model_path, source_kwargs

    try:
        config = AutoConfig.from_pretrained(resolve_model_path(model_args.model_name_or_path or ""), **source_kwargs(model_args))
        with torch.device("meta"):
            skeleton = AutoModelForCausalLM.from_config(config, trust_remote_code=model_args.trust_remote_code)
    except Exception as error:  # noqa: BLE001 - any failure here only postpones the check to the real load
        logger.debug("Module names are checked after loading (no meta-device skeleton: %s).", error)
        return
    if args.finetuning_type == "lora":
        check_lora_names(skeleton, args)
    else:
        check_freeze_names(skeleton, args)
