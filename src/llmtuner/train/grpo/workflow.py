"""Group relative policy optimisation: sample grpo_num_generations completions per prompt, score them with the
reward functions (rewards.py), and raise the likelihood of those above their group's mean (TRL's GRPOTrainer).

Before the tokenizer and the weights load: the reward names (or dotted paths) are resolved, a typo refused with
the closest name, and the dataset columns each reward needs (`REWARD_COLUMNS`) are looked up in the data's files.
"""

from typing import Any

from ...extras.errors import ConfigError
from ...hparams import TrainConfig
from .rewards import MCQ_FORMAT_INSTRUCTION, NAMES_KEY, REWARD_COLUMNS, REWARDS, resolve_rewards


def logged_as(func: Any, name: str) -> Any:
    """A registered reward under its config name, so TRL logs rewards/mcq_correct/mean (TRL names a reward after its
    function's __name__); a user's function keeps its own name."""

    def reward(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    reward.__name__ = reward.__qualname__ = name
    reward.__doc__ = func.__doc__
    return reward


def check_rewards(config: TrainConfig) -> tuple[list[Any], list[float]]:
    """The reward functions and weights, or a ConfigError naming the entry, the dataset and the missing column."""
    from ...data.prompts import dataset_columns

    finetuning = config.finetuning
    functions, weights = resolve_rewards(finetuning.reward_funcs, finetuning.reward_weights)
    names = [name.strip() for name in finetuning.reward_funcs]
    functions = [logged_as(func, name) if name in REWARDS else func for func, name in zip(functions, names)]
    columns = dataset_columns(config.data)
    for name in finetuning.reward_funcs:
        for column in REWARD_COLUMNS.get(name.strip(), ()):
            lacking = [dataset for dataset, found in columns.items() if column not in found]
            if lacking:
                raise ConfigError(f"{NAMES_KEY} entry {name!r} needs the dataset column {column!r}, which dataset "
                                  f"{', '.join(map(repr, lacking))} lacks (it has {', '.join(sorted(columns[lacking[0]]))}). "
                                  f"Add the column (an exam file in formatting mcq has `answer`), map it under `columns` "
                                  f"in dataset_info.json, or drop {name!r} from {NAMES_KEY}.")
    return functions, weights


def run_grpo(config: TrainConfig, training_args: Any, callbacks: list[Any]) -> dict[str, float]:
    from ..common import run_trainer
    from ..preamble import prepare_stage
    from ..trl_compat import check_trl
    from .trainer import build_grpo_trainer

    check_trl()
    rewards = check_rewards(config)  # before the tokenizer and the weights
    stage = prepare_stage(config, training_args, prompt_instruction=MCQ_FORMAT_INSTRUCTION)
    trainer = build_grpo_trainer(config, training_args, stage, callbacks, rewards)
    return run_trainer(trainer, config, training_args, stage.resume, perplexity=False)
