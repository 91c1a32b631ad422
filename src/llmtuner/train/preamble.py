"""What every stage does before its trainer starts, in one place (more stages are coming).

output folder check, resume point and the settings its checkpoint recorded -> module names checked on a
weightless skeleton -> tokenizer, and for chat stages the template and its tokenizer fixes -> datasets
(rank 0 first, others read the cache) -> model with embeddings sized to the tokenizer -> adapter or
trainable layers. The workflow owns every change to these shared objects: the data pipeline and the
model loader only read them.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..data.template import Template
from ..hparams import TrainConfig
from ..hparams.finetuning_args import ONLINE_STAGES, PREFERENCE_STAGES
from .resume import resolve_resume
from .resume_check import check_resume_settings

CHAT_STAGES = ("sft", *PREFERENCE_STAGES, *ONLINE_STAGES)
"""Stages whose samples are conversations rendered by a chat template."""


@dataclass
class StageInputs:
    resume: str | None
    """The checkpoint to resume from, or None."""
    tokenizer: Any
    template: Template | None
    """The chat template (chat stages only), with its stop words set on the tokenizer."""
    data: Any
    """data.pipeline.PreparedData: train / eval (/ predict) token-id datasets and their statistics."""
    model: Any


def load_tokenizer_and_template(config: TrainConfig) -> tuple[Any, Template | None]:
    """The tokenizer, fixed for the stage's template (EOS = the template's first stop word, a pad token)."""
    from ..data.template_registry import get_template
    from ..model.loader import load_tokenizer

    tokenizer = load_tokenizer(config.model)
    template = None
    if config.finetuning.stage in CHAT_STAGES:
        template = get_template(config.data.template or "", date_string=config.data.template_date_string)
        template.fix_tokenizer(tokenizer)
    return tokenizer, template


def prepare_stage(config: TrainConfig, training_args: Any, for_generation: bool = False,
                  model_builder: "Callable[[TrainConfig, Any, Any], Any] | None" = None,
                  prompt_instruction: str = "") -> StageInputs:
    """Everything a stage's trainer needs; `for_generation` also renders the eval split as prompts (SFT predict).
    `model_builder(config, tokenizer, training_args)` replaces `build_model` for a stage with another head (rm).
    `prompt_instruction` ends grpo's multiple-choice prompts (data.prompts)."""
    from ..data.pipeline import prepare_datasets

    resume = resolve_resume(training_args, config.finetuning.overwrite_output_dir)
    check_resume_settings(config, resume, explicit=bool(training_args.resume_from_checkpoint))
    check_module_names(config, training_args)
    tokenizer, template = load_tokenizer_and_template(config)
    with training_args.main_process_first(desc="preprocessing", local=not os.environ.get("LLMTUNER_SHARED_FS")):
        data = prepare_datasets(tokenizer, config.data, config.finetuning.stage, template=template,
                                seed=data_seed(training_args), for_generation=for_generation,
                                prompt_instruction=prompt_instruction)
    model = (model_builder or build_model)(config, tokenizer, training_args)
    return StageInputs(resume=resume, tokenizer=tokenizer, template=template, data=data, model=model)


def build_model(config: TrainConfig, tokenizer: Any, training_args: Any) -> Any:
    """The model with embeddings sized to the tokenizer, then the adapter (or trainable layers) applied."""
    from ..model.adapter import init_adapter
    from ..model.loader import load_model

    model, resized = load_model(config.model, tokenizer, is_trainable=training_args.do_train,
                                cutoff_len=config.data.cutoff_len)
    # new token rows are untrained: the embeddings train too when they grew, tokens were added, or it was asked
    vocab_changed = resized or bool(config.model.new_special_tokens) or config.model.resize_vocab
    return init_adapter(model, config.model, config.finetuning, is_trainable=training_args.do_train,
                        zero3=zero_stage(training_args) == 3, vocab_changed=vocab_changed)


def check_module_names(config: TrainConfig, training_args: Any) -> None:
    """Wrong lora_target / freeze names fail before tokenising and loading weights. Not under ZeRO-3: there
    transformers builds even a config-only model inside deepspeed.zero.Init (collectives across ranks); the
    names are then checked when the model loads."""
    if training_args.do_train and zero_stage(training_args) != 3:
        from ..model.adapter import check_module_names_early

        check_module_names_early(config.model, config.finetuning)


def zero_stage(training_args: Any) -> int:
    config = getattr(training_args, "hf_deepspeed_config", None)
    return int(config.config.get("zero_optimization", {}).get("stage", 0)) if config is not None else 0


def data_seed(training_args: Any) -> int:
    return int(training_args.data_seed if training_args.data_seed is not None else training_args.seed)


def pad_multiple() -> int | None:
    import torch

    return 8 if torch.cuda.is_available() else None  # tensor cores like multiples of 8; CPU gains nothing
