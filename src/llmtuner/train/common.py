"""Wiring both stages share: output-dir safety and resume, model + adapter, trainer run, metrics."""

import json
import math
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from ..extras.errors import ConfigError
from ..extras.logging import get_logger
from ..hparams import Arguments

logger = get_logger(__name__)


def resolve_resume(training_args: Any, overwrite_output_dir: bool) -> str | None:
    """The checkpoint to resume from, or None; refuse to clobber a folder holding someone's files."""
    if training_args.resume_from_checkpoint:
        return training_args.resume_from_checkpoint
    output_dir = Path(training_args.output_dir)
    if not training_args.do_train or not output_dir.is_dir():
        return None
    if overwrite_output_dir:
        logger.info("overwrite_output_dir: training from the start; files in %s are replaced as the run saves.", output_dir)
        return None
    last = last_complete_checkpoint(output_dir, set_aside=_is_global_main_process())
    if last:
        logger.info("Resuming from %s (set resume_from_checkpoint to choose another).", last)
        return str(last)
    contents = list(output_dir.iterdir())
    if contents and all(_is_run_leftover(path) for path in contents):
        logger.info("%s holds only the logs of a run stopped before its first checkpoint: training from the start "
                    "(incomplete checkpoints stay aside).", output_dir)
    elif contents:
        raise ConfigError(
            f"output_dir {output_dir} is not empty and holds no checkpoint to resume from. Choose a new output_dir, "
            "or set overwrite_output_dir: true to train into it anyway."
        )
    return None


_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# What a run writes before its first complete checkpoint: its step log (restarted from step 0 on the next
# run), the tensorboard/wandb folders (new runs add their own files), and incomplete checkpoints (set aside
# by the main process; the other ranks may still see them under their first name).
_RUN_LEFTOVERS = re.compile(r"^(trainer_log\.jsonl|runs|wandb|checkpoint-\d+(\.incomplete-\d+)?)$")


def _is_run_leftover(path: Path) -> bool:
    return bool(_RUN_LEFTOVERS.match(path.name))


def last_complete_checkpoint(output_dir: Path, set_aside: bool = False) -> Path | None:
    """The newest checkpoint-N whose trainer_state.json (the trainer writes it last) reads back.

    The trainer writes checkpoints in place, so a run killed while saving leaves a partial folder that
    transformers' own get_last_checkpoint would pick and then fail on. Such folders are skipped, and
    with `set_aside` (main process only) renamed to checkpoint-N.incomplete: kept, never deleted.
    """
    steps = sorted(
        (int(match.group(1)), path) for path in output_dir.iterdir()
        if path.is_dir() and (match := _CHECKPOINT.match(path.name))
    )
    for _, path in reversed(steps):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
            return path
        except (OSError, ValueError):
            logger.warning("%s is incomplete (the run stopped while saving it); resuming from an earlier one.", path)
            if set_aside:
                path.rename(path.with_name(f"{path.name}.incomplete-{int(time.time())}"))
    return None


def _is_global_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def build_model(args: Arguments, tokenizer: Any, training_args: Any) -> Any:
    from ..model.adapter import init_adapter
    from ..model.loader import load_model

    zero3 = _zero_stage(training_args) == 3
    model = load_model(args.model, tokenizer, is_trainable=training_args.do_train, cutoff_len=args.data.cutoff_len)
    return init_adapter(model, args.model, args.finetuning, is_trainable=training_args.do_train, zero3=zero3)


def check_module_names(args: Arguments, training_args: Any) -> None:
    """Wrong lora_target / freeze names fail before tokenising and loading weights. Not under ZeRO-3: there
    transformers builds even a config-only model inside deepspeed.zero.Init (collectives across ranks); the
    names are then checked when the model loads."""
    if training_args.do_train and _zero_stage(training_args) != 3:
        from ..model.adapter import check_module_names_early

        check_module_names_early(args.model, args.finetuning)


def _zero_stage(training_args: Any) -> int:
    config = getattr(training_args, "hf_deepspeed_config", None)
    return int(config.config.get("zero_optimization", {}).get("stage", 0)) if config is not None else 0


def make_optimizer(model: Any, args: Arguments, training_args: Any) -> Any | None:
    """LoRA+ (B matrices learn `loraplus_lr_ratio` times faster) through peft's helper; None = trainer default."""
    if not args.finetuning.loraplus_lr_ratio:
        return None
    import torch
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(
        model=model, optimizer_cls=torch.optim.AdamW, lr=training_args.learning_rate,
        loraplus_lr_ratio=args.finetuning.loraplus_lr_ratio, weight_decay=training_args.weight_decay,
    )


def run_trainer(trainer: Any, args: Arguments, training_args: Any, resume: str | None, perplexity: bool) -> dict[str, float]:
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
        for item in sorted(staging.iterdir()):
            target = Path(output_dir) / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(item, target)
        staging.rmdir()


RUN_RECORD = "llmtuner_args.json"


def save_run_record(args: Arguments, output_dir: str) -> None:
    """llmtuner_args.json beside the saved model: the arguments that made it (base, data, finetuning type,
    quantization), which the trainer's own files do not hold; the export's model card and QLoRA check read it."""
    import dataclasses

    from .. import __version__

    record = {
        "llmtuner_version": __version__,
        **{group: dataclasses.asdict(getattr(args, group)) for group in ("model", "data", "finetuning")},
        "training": {key: value for key, value in args.training.items() if isinstance(value, (str, int, float, bool, type(None)))},
    }
    path = Path(output_dir) / RUN_RECORD
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(temporary, path)


def pad_multiple() -> int | None:
    import torch

    return 8 if torch.cuda.is_available() else None  # tensor cores like multiples of 8; CPU gains nothing


def data_seed(training_args: Any) -> int:
    return int(training_args.data_seed if training_args.data_seed is not None else training_args.seed)


def main_process_first(training_args: Any, description: str) -> Any:
    """Rank 0 preprocesses and fills the cache; the other ranks then read it."""
    return training_args.main_process_first(desc=description, local=not os.environ.get("LLMTUNER_SHARED_FS"))
