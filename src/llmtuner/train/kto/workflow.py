"""Kahneman-Tversky optimisation: learns from answers labelled desirable or undesirable, one at a time, so it
also trains on unpaired data (KTO's `kto_tag`); pairs are split into one of each (TRL's KTOTrainer)."""

from typing import Any

from ...hparams import TrainConfig
from ..preference import run_preference


def run_kto(config: TrainConfig, training_args: Any, callbacks: list[Any]) -> dict[str, float]:
    from .trainer import build_kto_trainer

    return run_preference(config, training_args, callbacks, build_kto_trainer)
