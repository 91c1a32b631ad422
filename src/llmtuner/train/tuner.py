"""`llmtuner train`: build the training arguments and run the stage's workflow."""

from collections.abc import Callable
from typing import Any

from ..hparams import Arguments, build_training_arguments


def _stages() -> dict[str, Callable[..., dict[str, float]]]:
    from .pt.workflow import run_pt
    from .sft.workflow import run_sft

    return {"pt": run_pt, "sft": run_sft}


def run_training(args: Arguments, callbacks: list[Any] | None = None) -> dict[str, float]:
    """Run one training job; returns its metrics."""
    training_args = build_training_arguments(args)
    from transformers import set_seed

    from ..extras.distributed import cleanup_distributed
    from ..extras.reporting import configure_reporting
    from .callbacks import JsonlLogCallback, RunRecordCallback

    configure_reporting(training_args)
    set_seed(training_args.seed)  # before adapters are created, so LoRA init is reproducible
    try:
        return _stages()[args.finetuning.stage](args, training_args, [JsonlLogCallback(), RunRecordCallback(args), *(callbacks or [])])
    finally:
        cleanup_distributed()
