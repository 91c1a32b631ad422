"""One run per output folder: resume from its last complete checkpoint, or refuse to write over someone's files.

A folder holding checkpoints resumes; a folder holding only what a stopped run wrote before its first
checkpoint starts over; any other non-empty folder is refused unless `overwrite_output_dir` says so.
Checkpoints a killed save left half-written are renamed aside (never deleted) and skipped: to
`incomplete-checkpoint-N-T`, a name transformers' `checkpoint-*` glob does not see, so checkpoint rotation
(save_total_limit) neither counts them nor keeps one of them in place of a complete checkpoint.
"""

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from ..extras.errors import ConfigError
from ..extras.logging import get_logger
from ..extras.run_lock import LOCK_NAME

logger = get_logger(__name__)


def resolve_resume(training_args: Any, overwrite_output_dir: bool) -> str | None:
    """The checkpoint to resume from, or None; refuse to clobber a folder holding someone's files."""
    if training_args.resume_from_checkpoint:
        return training_args.resume_from_checkpoint
    output_dir = Path(training_args.output_dir)
    if not training_args.do_train or not output_dir.is_dir():
        return None
    if overwrite_output_dir:
        if _is_global_main_process():
            _set_previous_run_aside(output_dir)
        logger.info("overwrite_output_dir: training from the start; files in %s are replaced as the run saves.", output_dir)
        return None
    last = last_complete_checkpoint(output_dir, set_aside=_is_global_main_process())
    if last:
        logger.info("Resuming from %s (set resume_from_checkpoint to choose another).", last)
        return str(last)
    contents = [path for path in output_dir.iterdir() if path.name != LOCK_NAME]  # the lock: this run's own file
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
PREVIOUS_RUN = "previous-run-"  # not `checkpoint-*`: rotation and a later resume never see what is kept there


def _set_previous_run_aside(output_dir: Path) -> None:
    """Move an earlier run's checkpoints and step log into previous-run-<time>/: starting over must neither
    delete them nor let checkpoint rotation or a later resume mix them with the new run's."""
    earlier = [path for path in output_dir.iterdir()
               if (path.is_dir() and (_CHECKPOINT.match(path.name) or path.name.startswith("incomplete-checkpoint-")))
               or path.name == "trainer_log.jsonl"]
    if not earlier:
        return
    kept = output_dir / f"{PREVIOUS_RUN}{time.strftime('%Y%m%d-%H%M%S')}"
    while kept.exists():
        kept = kept.with_name(kept.name + "x")
    kept.mkdir()
    for path in earlier:
        path.rename(kept / path.name)
    logger.warning("overwrite_output_dir: the earlier run's checkpoints and log were moved to %s (kept, not deleted).", kept)
_LEGACY_ASIDE = re.compile(r"^checkpoint-(\d+)\.incomplete-(\d+)$")
"""How earlier versions set checkpoints aside: transformers' rotation glob sees these, so they are renamed."""
ASIDE_PREFIX = "incomplete-"
# What a run writes before its first complete checkpoint: its step log (restarted from step 0 on the next
# run), the tensorboard/wandb folders (new runs add their own files), incomplete checkpoints (set aside
# by the main process; the other ranks may still see them under their first name),
# a final-save staging folder and the hidden temporary files of an interrupted atomic write.
_RUN_LEFTOVERS = re.compile(r"^(trainer_log\.jsonl|runs|wandb|checkpoint-\d+(\.incomplete-\d+)?|incomplete-checkpoint-\d+-\d+"
                            r"|previous-run-.+|\.saving|\..+\.tmp-[0-9a-f]{8})$")


def _is_run_leftover(path: Path) -> bool:
    return bool(_RUN_LEFTOVERS.match(path.name))


def set_aside_name(step: int, stamp: int) -> str:
    """The name an incomplete checkpoint-`step` is kept under (outside transformers' `checkpoint-*` glob)."""
    return f"{ASIDE_PREFIX}checkpoint-{step}-{stamp}"


def last_complete_checkpoint(output_dir: Path, set_aside: bool = False) -> Path | None:
    """The newest checkpoint-N whose trainer_state.json (the trainer writes it last) reads back.

    The trainer writes checkpoints in place, so a run killed while saving leaves a partial folder that
    transformers' own get_last_checkpoint would pick and then fail on. Such folders are skipped, and
    with `set_aside` (main process only) renamed to incomplete-checkpoint-N-T: kept, never deleted, and
    out of the way of checkpoint rotation (which would otherwise count them, or keep one as the newest).
    """
    steps = sorted(
        (int(match.group(1)), path) for path in output_dir.iterdir()
        if path.is_dir() and (match := _CHECKPOINT.match(path.name))
    )
    if set_aside:
        _rename_legacy_asides(output_dir)
    for step, path in reversed(steps):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
            return path
        except (OSError, ValueError):
            logger.warning("%s is incomplete (the run stopped while saving it): not resumed from.", path)
            if set_aside:
                aside = path.with_name(set_aside_name(step, int(time.time())))
                path.rename(aside)
                logger.warning("Kept it as %s (not loaded, not counted by save_total_limit; delete it when not needed).",
                               aside)
    return None


def _rename_legacy_asides(output_dir: Path) -> None:
    for path in output_dir.iterdir():
        if path.is_dir() and (match := _LEGACY_ASIDE.match(path.name)):
            path.rename(path.with_name(set_aside_name(int(match.group(1)), int(match.group(2)))))


def _is_global_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"
