"""Direct preference optimisation: raise the chosen answer's likelihood over the rejected one's, relative to a
frozen reference (TRL's DPOTrainer; the loss variants of its DPOConfig through pref_loss)."""

from typing import Any

from ...hparams import TrainConfig
from ..preference import run_preference


def run_dpo(config: TrainConfig, training_args: Any, callbacks: list[Any]) -> dict[str, float]:
    from .trainer import build_dpo_trainer

    return run_preference(config, training_args, callbacks, build_dpo_trainer)
