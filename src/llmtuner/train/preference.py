"""What the preference stages share: the TRL config from our training arguments, the reference model, the run.

Each stage (`train/<stage>/workflow.py`) names its TRL trainer and the knobs it passes; this module runs the
shared preamble (resume checks, tokenizer and template, pairs checked and tokenised, model and adapter), builds
the trainer, and hands it to `common.run_trainer` (train, staged save, run record, evaluation, plot), as SFT does.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

from ..extras.logging import get_logger
from ..hparams import TrainConfig
from .common import run_trainer
from .preamble import StageInputs, prepare_stage

logger = get_logger(__name__)


def preference_arguments(training_args: Any, config_cls: type, **stage_values: Any) -> Any:
    """The stage's TRL config (a TrainingArguments subclass): every training argument as built and checked for this
    machine (`train.training_arguments`: use_cpu, DeepSpeed's process group, ...), plus the stage's own values."""
    accepted = {field.name for field in dataclasses.fields(config_cls) if field.init}
    values = {field.name: getattr(training_args, field.name) for field in dataclasses.fields(training_args)
              if field.init and field.name in accepted}
    if getattr(training_args, "distributed_state", None) is not None:
        # the same process group as the arguments built first (on CPU, DeepSpeed's gloo group): transformers pops
        # `use_configured_state` out of the accelerator config when it reads it, so it is set again for the copy
        accelerator = values.get("accelerator_config")
        accelerator = accelerator.to_dict() if hasattr(accelerator, "to_dict") else dict(accelerator or {})
        values["accelerator_config"] = {**accelerator, "use_configured_state": True}
    return config_cls(**{**values, **stage_values})


def adapter_is_new(config: TrainConfig) -> bool:
    """LoRA whose trained adapter this run creates (not one resumed from adapter_name_or_path)."""
    resumed = config.model.adapter_name_or_path and not config.finetuning.create_new_adapter
    return config.finetuning.finetuning_type == "lora" and not resumed


def reference_model(config: TrainConfig, tokenizer: Any) -> Any | None:
    """The frozen reference of dpo/kto. LoRA: None (the policy with its adapter disabled). freeze/full: a copy loaded
    as the policy was (dtype, quantization, RoPE scaling, embeddings sized to the tokenizer), or None with
    pref_precompute_ref (the reference log-probs are computed once, before training, by the untrained policy)."""
    if config.finetuning.finetuning_type == "lora" or config.finetuning.pref_precompute_ref:
        return None
    from ..model.loader import load_model

    logger.info("Loading a frozen reference copy of the base for stage %s (finetuning_type %s); "
                "pref_precompute_ref: true avoids keeping it in memory.", config.finetuning.stage,
                config.finetuning.finetuning_type)
    model, _ = load_model(config.model, tokenizer, is_trainable=False, cutoff_len=config.data.cutoff_len)
    return model


TrainerBuilder = Callable[[TrainConfig, Any, StageInputs, list[Any]], Any]


def run_preference(config: TrainConfig, training_args: Any, callbacks: list[Any], build_trainer: TrainerBuilder,
                   model_builder: Callable[[TrainConfig, Any, Any], Any] | None = None) -> dict[str, float]:
    """Preamble, the stage's trainer, then train / save / evaluate / plot as every stage does."""
    from .trl_compat import check_trl

    check_trl()  # before the data and the weights
    stage = prepare_stage(config, training_args, model_builder=model_builder)
    trainer = build_trainer(config, training_args, stage, callbacks)
    return run_trainer(trainer, config, training_args, stage.resume, perplexity=False)
