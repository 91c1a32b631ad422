"""Loss curves from the trainer's log history, written as PNG at the end of training."""

import json
import math
from pathlib import Path

from ..extras.logging import get_logger

logger = get_logger(__name__)


def smooth(values: list[float], weight: float | None = None) -> list[float]:
    """Exponential moving average; the weight grows with the number of points (TensorBoard-style)."""
    if not values:
        return []
    if weight is None:
        weight = 1.8 * (1 / (1 + math.exp(-0.05 * len(values))) - 0.5)
    smoothed, last = [], values[0]
    for value in values:
        last = last * weight + (1 - weight) * value
        smoothed.append(last)
    return smoothed


PREFERENCE_PLOTS = ("rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected", "kl", "accuracy",
                    "margin", "eval_rewards/margins", "eval_rewards/accuracies", "eval_accuracy")
"""The preference stages' curves beside the loss (each only when the run logged it): training_rewards_margins.png, ..."""
GRPO_PLOTS = ("reward", "reward_std", "completions/mean_length")
"""GRPO's curves (with kl above): the weighted reward, its spread, the completion length; plus each reward function's
mean (rewards/<name>/mean), found in the log."""


def plot_loss(output_dir: str, keys: tuple[str, ...] = ("loss", "eval_loss", *PREFERENCE_PLOTS, *GRPO_PLOTS)) -> list[Path]:
    """training_loss.png (and training_eval_loss.png, and the preference and GRPO metrics logged) from
    trainer_state.json; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")  # no display on training servers
    import matplotlib.pyplot as plt

    state_file = Path(output_dir) / "trainer_state.json"
    history = json.loads(state_file.read_text(encoding="utf-8"))["log_history"]
    per_reward = {key: None for entry in history for key in entry if key.startswith("rewards/") and key.endswith("/mean")
                  and key.count("/") == 2}  # GRPO: rewards/<name>/mean (DPO's rewards/chosen has one slash)
    keys = (*keys, *(key for key in per_reward if key not in keys))
    written = []
    for key in keys:
        points = [(entry["step"], entry[key]) for entry in history if key in entry]
        if not points:
            continue
        steps, values = zip(*points)
        plt.figure()
        plt.plot(steps, values, color="#1f77b4", alpha=0.4, label="original")
        plt.plot(steps, smooth(list(values)), color="#1f77b4", label="smoothed")
        plt.title(f"{key} of {output_dir}")
        plt.xlabel("step")
        plt.ylabel(key)
        plt.legend()
        path = Path(output_dir) / ("training_loss.png" if key == "loss" else f"training_{key.replace('/', '_')}.png")
        plt.savefig(path, format="png", dpi=100)
        plt.close()
        written.append(path)
        logger.info("Loss curve written to %s", path)
    return written
