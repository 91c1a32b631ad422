"""transformers' Seq2SeqTrainingArguments from a TrainConfig, with what this machine needs.

Built by the training workflow, not while arguments are read: it imports torch and transformers, and
on a machine without CUDA it may start a process group (DeepSpeed) and switch the trainer to the CPU.
"""

import typing
from typing import Any

from ..extras.errors import ConfigError
from ..hparams import TrainConfig, validate_hardware
from ..hparams.reader import coerce


def build_training_arguments(config: TrainConfig) -> Any:
    """Check the hardware, type every training key against transformers' dataclass, build the object."""
    validate_hardware(config)
    import torch
    from transformers import Seq2SeqTrainingArguments

    from ..extras.distributed import prepare_cpu_process_group

    hints = typing.get_type_hints(Seq2SeqTrainingArguments)
    kwargs = {key: coerce(value, hints[key], key, "training argument") for key, value in config.training.items()}
    if not torch.cuda.is_available() and kwargs.get("bf16") and not kwargs.get("deepspeed"):
        kwargs["use_cpu"] = True  # transformers refuses bf16 on CPU unless use_cpu says the CPU is meant
    prepare_cpu_process_group(kwargs)  # no CUDA + deepspeed or several ranks: gloo, and the trainer told to keep it
    try:
        return Seq2SeqTrainingArguments(**kwargs)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"Invalid training arguments: {error}") from error
