"""What every stage does after its preamble: the optimizer, the trainer run, the final save and the run record."""

import math
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..extras.errors import DiskFullError
from ..extras.files import free_space, move_into, write_failure, write_json
from ..extras.logging import get_logger
from ..hparams import TrainConfig
from .max_steps import NothingLeftToTrain, StopAtMaxSteps
from .resume import last_complete_checkpoint

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
    """Train, save, evaluate; returns every metric logged. A full disk stops the run with a DiskFullError that
    names the last complete checkpoint (intact: checkpoints and the final model are never written over)."""
    from .plot import plot_loss

    metrics: dict[str, float] = {}
    output_dir = training_args.output_dir
    if training_args.do_train:
        trainer.add_callback(StopAtMaxSteps())
        result = None
        with _stop_on_full_disk(trainer, output_dir, "training"):
            try:
                result = trainer.train(resume_from_checkpoint=resume)
            except NothingLeftToTrain:
                trainer.is_in_train = False  # what the end of train() resets
                logger.info("%s already reached max_steps %d: nothing left to train; its model is saved as the final "
                            "one (raise max_steps to train further).", resume, trainer.state.max_steps)
        with _stop_on_full_disk(trainer, output_dir, "final save"):
            save_final_model(trainer, output_dir)
        with _stop_on_full_disk(trainer, output_dir, "results"):
            if trainer.is_world_process_zero():
                save_run_record(args, output_dir)
            trainer.save_state()
            if result is not None:  # else the earlier run's train_results.json stays
                trainer.log_metrics("train", result.metrics)
                trainer.save_metrics("train", result.metrics)
                metrics.update(result.metrics)
            if trainer.is_world_process_zero() and args.finetuning.plot_loss:
                plot_loss(output_dir)
    if training_args.do_eval:
        eval_metrics = trainer.evaluate(metric_key_prefix="eval")
        if perplexity and "eval_loss" in eval_metrics:
            eval_metrics["eval_perplexity"] = math.exp(min(eval_metrics["eval_loss"], 50.0))
        with _stop_on_full_disk(trainer, output_dir, "results"):
            trainer.log_metrics("eval", eval_metrics)
            trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)
    return metrics


_WHAT_FAILED = {
    "training": "Training stopped at step {step}: a write into {folder} failed ({reason}).",
    "final save": "Saving the final model into {folder} failed ({reason}); the files of an earlier final save there "
                  "are unchanged (the model is written aside, then moved into place).",
    "results": "Writing the run's results (trainer state, metrics) into {folder} failed ({reason}).",
}


@contextmanager
def _stop_on_full_disk(trainer: Any, output_dir: str, phase: str) -> Iterator[None]:
    """Turn a write that failed for want of space into a DiskFullError saying what is intact and how to go on;
    any other error passes unchanged. A checkpoint the failure cut off is set aside (it has no trainer state)."""
    try:
        yield
    except Exception as error:
        reason = write_failure(error)
        if reason is None:
            raise
        folder = Path(output_dir)
        intact = last_complete_checkpoint(folder, set_aside=trainer.is_world_process_zero()) if folder.is_dir() else None
        what = _WHAT_FAILED[phase].format(step=trainer.state.global_step, folder=folder, reason=reason)
        kept = (f"The last complete checkpoint, {intact}, is intact; the next run resumes from it (a checkpoint the "
                "failure cut off is kept aside as incomplete-checkpoint-*, never loaded)." if intact else
                "No checkpoint was complete yet: the next run starts from step 0.")
        raise DiskFullError(f"{what} {kept} {free_space(folder)}: free space there (or lower save_total_limit), "
                            "then run the same command again.") from error


def save_final_model(trainer: Any, output_dir: str) -> None:
    """Save the trained model (or adapter) next to the checkpoints without ever leaving a half-written file.

    Everything is written to a staging folder first, then each file is moved into place with an
    atomic rename, so a crash while saving leaves the previous files (and all checkpoints) intact.
    """
    staging = Path(output_dir) / ".saving"
    if trainer.is_world_process_zero() and staging.exists():
        shutil.rmtree(staging)  # left by a save that crashed: its files must not be published with these
    try:
        trainer.save_model(str(staging))  # collective under ZeRO-3: every rank takes part
    except BaseException:
        if trainer.is_world_process_zero():
            shutil.rmtree(staging, ignore_errors=True)  # half-written (a full disk): its space is given back
        raise
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
