"""`llmtuner train`: build the training arguments and run the stage's workflow, looked up by name."""

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from ..hparams import TrainConfig


def _stages() -> dict[str, Callable[..., dict[str, float]]]:
    """Stage name -> its workflow (one package per stage; hparams.finetuning_args.STAGES lists the names)."""
    from .dpo.workflow import run_dpo
    from .grpo.workflow import run_grpo
    from .kto.workflow import run_kto
    from .orpo.workflow import run_orpo, run_simpo
    from .pt.workflow import run_pt
    from .rm.workflow import run_rm
    from .sft.workflow import run_sft

    return {"pt": run_pt, "sft": run_sft, "dpo": run_dpo, "kto": run_kto, "orpo": run_orpo, "simpo": run_simpo, "rm": run_rm,
            "grpo": run_grpo}


def run_training(config: TrainConfig, callbacks: list[Any] | None = None) -> dict[str, float]:
    """Run one training job; returns its metrics. The output_dir is locked first, before anything loads: a
    second run into it is refused (global rank 0 holds the lock for every rank of the launch)."""
    from ..extras.run_lock import run_lock

    output_dir = config.training.get("output_dir")
    with run_lock(output_dir, "training") if output_dir else nullcontext():
        return _train(config, callbacks)


def _train(config: TrainConfig, callbacks: list[Any] | None) -> dict[str, float]:
    from transformers import enable_full_determinism, set_seed

    from ..extras.distributed import cleanup_distributed
    from ..extras.reporting import configure_reporting
    from .callbacks import JsonlLogCallback, ResumedScheduleCallback, RunRecordCallback
    from .training_arguments import build_training_arguments

    training_args = build_training_arguments(config)  # may start a CPU process group: cleaned up below
    finished = False
    try:
        configure_reporting(training_args)
        # before adapters are created, so LoRA init is reproducible; full_determinism also picks deterministic kernels
        if training_args.full_determinism:
            enable_full_determinism(training_args.seed)
        else:
            set_seed(training_args.seed)
        stage = _stages()[config.finetuning.stage]
        metrics = stage(config, training_args, [JsonlLogCallback(), RunRecordCallback(config), ResumedScheduleCallback(),
                                                   *(callbacks or [])])
        finished = True
        return metrics
    finally:
        cleanup_distributed(finished)  # after every rank is done (a barrier), and only then is the lock released
