"""Experiment trackers: nothing leaves the machine unless the user says so.

`report_to` defaults to none. When a user asks for wandb without choosing a mode, runs are
recorded offline next to the checkpoints (upload later with `wandb sync`); WANDB_MODE=online
uploads as usual. Medical data and metrics must not go to a server by accident.
"""

from __future__ import annotations

import os
from typing import Any

from .logging import get_logger

logger = get_logger(__name__)


def configure_reporting(training_args: Any) -> None:
    """Call before the trainer is built (wandb reads its environment when the trainer starts it)."""
    report_to = training_args.report_to or []
    if "wandb" not in report_to:
        return
    if "WANDB_MODE" not in os.environ:
        os.environ["WANDB_MODE"] = "offline"
        logger.info("wandb records offline (set WANDB_MODE=online to upload; `wandb sync` uploads later).")
    os.environ.setdefault("WANDB_DIR", str(training_args.output_dir))
    os.makedirs(os.environ["WANDB_DIR"], exist_ok=True)
