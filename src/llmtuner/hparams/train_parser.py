"""`llmtuner train` / `preview` arguments: the reader's typed groups plus transformers' training keys.

Training keys belong to transformers' Seq2SeqTrainingArguments. They are checked by name here (read
from the installed transformers' source, `training_fields.py`, without importing it); the few the
validator needs are typed now, the rest when `train.training_arguments` builds the real object.
"""

from typing import Any

from .config import TrainConfig
from .data_args import DataArguments
from .finetuning_args import FinetuningArguments
from .generating_args import GeneratingArguments
from .model_args import ModelArguments
from .reader import assign_to_groups, coerce, format_groups_help, help_line, read_sources
from .training_fields import training_field_docs
from .validate_train import validate_train_config

TRAIN_GROUPS: tuple[type, ...] = (ModelArguments, DataArguments, FinetuningArguments, GeneratingArguments)

# Training-argument defaults that differ from transformers' because they suit fine-tuning better.
TRAINING_DEFAULTS: dict[str, Any] = {
    "report_to": "none",  # wandb/tensorboard only when asked: medical data must not leave the machine unasked
    "logging_steps": 10,
    "include_num_input_tokens_seen": "non_padding",  # tokens/s in trainer_log.jsonl counts real tokens only
    "ddp_timeout": 180000000,  # preprocessing on rank 0 of a big corpus outlasts the 30-minute default
}
CHECKPOINTING_KEYS = ("activation_checkpointing", "gradient_checkpointing")
"""Gradient checkpointing is on by default; transformers 5.24 renamed the key, 5.23 has only the old one."""

# Training keys the validator reads before transformers is imported, with their types.
EARLY_TRAINING_TYPES: dict[str, Any] = {
    "output_dir": str, "do_train": bool, "do_eval": bool, "do_predict": bool, "predict_with_generate": bool,
    "bf16": bool, "fp16": bool, "max_steps": int, "use_cpu": bool, "per_device_train_batch_size": int,
    "gradient_accumulation_steps": int, "learning_rate": float, "num_train_epochs": float,
}


def parse_train_args(
    argv: list[str] | None = None, config: dict[str, Any] | None = None, command: str = "train"
) -> TrainConfig:
    """Parse `[CONFIG] --key value ...` (or a dict) into a TrainConfig, then check every combination.

    `command` says what the arguments are for ("train" or "preview"): preview writes nothing, so it needs
    no output_dir.
    """
    sources, config_file = read_sources(argv, config)
    training_docs = training_field_docs()
    values, rest = assign_to_groups(sources, TRAIN_GROUPS, command, passthrough=frozenset(training_docs))
    training: dict[str, Any] = dict(TRAINING_DEFAULTS)
    if not any(key in sources for key in CHECKPOINTING_KEYS):
        training[next(key for key in CHECKPOINTING_KEYS if key in training_docs)] = True
    for key, (value, origin) in rest.items():
        # typed now when the validator reads it; the rest against the real dataclass when it is built
        training[key] = coerce(value, EARLY_TRAINING_TYPES[key] | None, key, origin) if key in EARLY_TRAINING_TYPES else value
    parsed = TrainConfig(
        model=ModelArguments(**values[ModelArguments]),
        data=DataArguments(**values[DataArguments]),
        finetuning=FinetuningArguments(**values[FinetuningArguments]),
        generating=GeneratingArguments(**values[GeneratingArguments]),
        training=training,
        config_file=config_file,
    )
    validate_train_config(parsed, command)
    return parsed


def format_train_help(command: str = "train") -> str:
    """Every argument with its type, default and help text, grouped; no heavy imports."""
    header = [f"usage: llmtuner {command} [CONFIG.yaml|CONFIG.json] [--key value ...]", "",
              "Flags override the config file. Booleans: --flag, --flag true, --flag false. Lists: a YAML list, "
              "or items separated by commas (--dataset a,b)."]
    lines = [format_groups_help(header, TRAIN_GROUPS), "", "Seq2SeqTrainingArguments (transformers):"]
    for doc in training_field_docs().values():
        default = repr(TRAINING_DEFAULTS[doc.name]) if doc.name in TRAINING_DEFAULTS else doc.default
        lines.append(help_line(doc.name, doc.annotation, default, doc.help))
    return "\n".join(lines)
