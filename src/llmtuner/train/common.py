"""What every stage does after its preamble: the optimizer, the trainer run, the final save and the run record."""

import math
import re
import shutil
from pathlib import Path
from typing import Any

from ..extras.files import move_into, write_json
from ..extras.logging import get_logger
from ..hparams import TrainConfig

logger = get_logger(__name__)


def make_optimizer(model: Any, args: TrainConfig, training_args: Any) -> Any | None:
    """LoRA+ (B matrices learn `loraplus_lr_ratio` times faster) through peft's helper; None = trainer default."""
    if not args.finetuning.loraplus_lr_ratio:
        return None
    import torch
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(
        model=model, optimizer_cls=torch.optim.AdamW, lr=training_args.learning_rate,
        loraplus_lr_ratio=args.finetuning.loraplus_lr_ratio, weight_decay=training_args.weight_decay,
    )


def run_trainer(trainer: Any, args: TrainConfig, training_args: Any, resume: str | None, perplexity: bool) -> dict[str, float]:
    """Train, save, evaluate; returns every metric logged."""
    from .plot import plot_loss

    metrics: dict[str, float] = {}
    if training_args.do_train:
        result = trainer.train(resume_from_checkpoint=resume)
        save_final_model(trainer, training_args.output_dir)
        if trainer.is_world_process_zero():
            save_run_record(args, training_args.output_dir)
        trainer.save_state()
        trainer.log_metrics("train", result.metrics)
        trainer.save_metrics("train", result.metrics)
        metrics.update(result.metrics)
        if trainer.is_world_process_zero() and args.finetuning.plot_loss:
            plot_loss(training_args.output_dir)
    if training_args.do_eval:
        eval_metrics = trainer.evaluate(metric_key_prefix="eval")
        if perplexity and "eval_loss" in eval_metrics:
            eval_metrics["eval_perplexity"] = math.exp(min(eval_metrics["eval_loss"], 50.0))
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)
    return metrics


def save_final_model(trainer: Any, output_dir: str) -> None:
    """Save the trained model (or adapter) next to the checkpoints without ever leaving a half-written file.

    Everything is written to a staging folder first, then each file is moved into place with an
    atomic rename, so a crash while saving leaves the previous files (and all checkpoints) intact.
    """
    staging = Path(output_dir) / ".saving"
    if trainer.is_world_process_zero() and staging.exists():
        shutil.rmtree(staging)  # left by a save that crashed: its files must not be published with these
    trainer.save_model(str(staging))  # collective under ZeRO-3: every rank takes part
    if trainer.is_world_process_zero():
        move_into(staging, output_dir)  # not a folder rename: output_dir also holds the checkpoints


from ..extras.constants import RUN_RECORD  # noqa: E402

SECRET_KEY = re.compile(r"(^|_)(token|secret|password|api_key)$")  # hub_token, push_to_hub_token: never written out


def save_run_record(args: TrainConfig, output_dir: str) -> None:
    """llmtuner_args.json beside the saved model: the arguments that made it (base, data, finetuning type,
    quantization), which the trainer's own files do not hold; the export's model card and QLoRA check read it."""
    import dataclasses

    from .. import __version__

    record = {
        "llmtuner_version": __version__,
        **{group: dataclasses.asdict(getattr(args, group)) for group in ("model", "data", "finetuning")},
        "training": {key: value for key, value in args.training.items()
                     if isinstance(value, (str, int, float, bool, type(None))) and not SECRET_KEY.search(key)},
    }
    write_json(Path(output_dir) / RUN_RECORD, record)
