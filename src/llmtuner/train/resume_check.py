"""Resuming continues the run that saved the checkpoint: its recorded settings are compared with the new ones.

The run record (llmtuner_args.json, in every checkpoint and beside the final model) says what made the
checkpoint. A changed model, adapter, stage, finetuning type, quantization, dataset, template, cutoff_len or
packing would train a different model on top of the checkpoint's optimizer and step, and mix two runs in
one folder: refused, with the differences and the fix. Changed optimizer settings (learning rate, scheduler,
warmup, weight decay, batch size) are a legitimate but visible choice: named in a warning. More steps or
epochs simply continue. Checked before anything loads.
"""

import contextlib
import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

from ..extras.constants import RUN_RECORD
from ..extras.errors import ConfigError
from ..extras.logging import get_logger
from ..hparams import TrainConfig
from ..hparams.reader import coerce

logger = get_logger(__name__)

REFUSED: tuple[tuple[str, str], ...] = (
    ("model", "model_name_or_path"), ("model", "adapter_name_or_path"), ("model", "quantization_bit"),
    ("finetuning", "stage"), ("finetuning", "finetuning_type"),
    ("data", "dataset"), ("data", "template"), ("data", "cutoff_len"), ("data", "packing"),
)
"""Settings that make another model or other training data: a resume with any of them changed is refused."""

WARNED = ("learning_rate", "lr_scheduler_type", "warmup_steps", "warmup_ratio", "weight_decay",
          "optim", "per_device_train_batch_size", "gradient_accumulation_steps")
"""Optimizer and batch settings: a resume with any of them changed continues, with a warning naming them."""

_PATHS = {"model_name_or_path", "adapter_name_or_path"}
_LISTS = {"dataset", "adapter_name_or_path"}


def check_resume_settings(config: TrainConfig, resume: str | None, explicit: bool) -> None:
    """Refuse (ConfigError) or warn about settings that differ from those recorded with the checkpoint `resume`.

    `explicit`: the checkpoint was named by resume_from_checkpoint (not found in output_dir), for the message.
    """
    if not resume:
        return
    record = _read_record(Path(resume), Path(config.training.get("output_dir") or resume))
    if record is None:
        return
    source, recorded = record
    changed = [f"{key}: {before!r} -> {after!r}" for group, key in REFUSED
               if not _same(key, before := (recorded.get(group) or {}).get(key), after := getattr(getattr(config, group), key))]
    if changed:
        how = ("leave out resume_from_checkpoint to start from scratch (in a new output_dir)" if explicit else
               "choose a new output_dir, or set overwrite_output_dir: true to start from scratch in this one (its "
               "checkpoints are replaced as the new run saves)")
        raise ConfigError(
            f"Resuming from {resume} would continue a run made with other settings ({source} records them): "
            f"{'; '.join(changed)}. A checkpoint continues the model and data that made it. To train with the new "
            f"settings, {how}; to resume, go back to the recorded ones.")
    optimizer = _changed_training(recorded.get("training") or {}, config.training)
    if optimizer:
        logger.warning("Resuming from %s with other optimizer settings than %s records: %s. The run continues with "
                       "the new ones from %s on (the learning-rate schedule too).", resume, source, "; ".join(optimizer),
                       Path(resume).name)


def _read_record(checkpoint: Path, output_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint's run record, else the output_dir's (checkpoints saved by early versions have none)."""
    for path in (checkpoint / RUN_RECORD, output_dir / RUN_RECORD):
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            logger.warning("%s could not be read (%s): the settings of the run being resumed are not checked.", path, error)
            return None
        return (path, record) if isinstance(record, dict) else None
    logger.info("%s holds no %s: the settings of the run being resumed are not checked.", checkpoint, RUN_RECORD)
    return None


def _listed(value: Any) -> Any:
    """Lists as lists: records written before lists were parsed once hold "a,b"."""
    if isinstance(value, str) and "," in value:
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, str):
        return [value]
    return list(value) if isinstance(value, (list, tuple)) else value


def _same(key: str, before: Any, after: Any) -> bool:
    if key in _LISTS:
        before, after = _listed(before), _listed(after)
    if key in _PATHS and before is not None and after is not None:
        before, after = (value if isinstance(value, list) else [value] for value in (before, after))
        return len(before) == len(after) and all(map(_same_path, before, after))
    return before == after


def _same_path(first: str, second: str) -> bool:
    """The same text, or two spellings (relative, absolute, symlinked) of one existing folder."""
    if first == second:
        return True
    return Path(first).exists() and Path(second).exists() and Path(first).resolve() == Path(second).resolve()


def _changed_training(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """WARNED keys whose value differs, each side typed as the trainer types it and defaulted as it defaults."""
    from transformers import Seq2SeqTrainingArguments

    hints = typing.get_type_hints(Seq2SeqTrainingArguments)
    defaults = {f.name: f.default for f in dataclasses.fields(Seq2SeqTrainingArguments)
                if f.default is not dataclasses.MISSING}
    changed = []
    for key in (key for key in WARNED if key in hints):
        values = []
        for settings, origin in ((recorded, "recorded"), (current, "given")):
            value = settings.get(key, defaults.get(key))
            with contextlib.suppress(ConfigError):  # an invalid new value is reported when the arguments are built
                value = coerce(value, hints[key], key, origin)
            values.append(getattr(value, "value", value))  # enums (scheduler, optimizer) as their names
        if values[0] != values[1]:
            changed.append(f"{key}: {values[0]!r} -> {values[1]!r}")
    return changed
