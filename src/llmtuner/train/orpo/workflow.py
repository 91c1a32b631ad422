"""The reference-free preference stages: orpo (odds-ratio preference optimisation) and simpo (simple preference
optimisation, length-normalised, with a target margin). No reference model is loaded or computed."""

from typing import Any

from ...hparams import TrainConfig
from ..preference import run_preference


def run_orpo(config: TrainConfig, training_args: Any, callbacks: list[Any]) -> dict[str, float]:
    from .trainer import build_reference_free_trainer

    return run_preference(config, training_args, callbacks, build_reference_free_trainer)


def run_simpo(config: TrainConfig, training_args: Any, callbacks: list[Any]) -> dict[str, float]:
    from .trainer import build_reference_free_trainer

    return run_preference(config, training_args, callbacks, build_reference_free_trainer)
