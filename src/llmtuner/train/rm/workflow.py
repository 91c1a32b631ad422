"""Reward modelling: a value head on the model learns to score the chosen answer above the rejected one
(TRL's RewardTrainer); the saved adapter holds the LoRA weights and the head, for scoring answers (e.g. PPO/GRPO)."""

from typing import Any

from ...hparams import TrainConfig
from ..preference import run_preference


def run_rm(config: TrainConfig, training_args: Any, callbacks: list[Any]) -> dict[str, float]:
    from .model import build_reward_model
    from .trainer import build_reward_trainer

    return run_preference(config, training_args, callbacks, build_reward_trainer, model_builder=build_reward_model)
