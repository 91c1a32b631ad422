"""Trainer callbacks: a machine-readable training log with throughput and ETA, and the learning-rate schedule of a
resumed run."""

import os
import time
import warnings
from typing import Any

from transformers import TrainerCallback

from ..extras.files import append_jsonl, read_jsonl, write_jsonl

LOG_NAME = "trainer_log.jsonl"
PREFERENCE_METRICS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
                      "logps/rejected", "kl", "nll_loss", "log_odds_ratio", "accuracy", "margin", "mean_reward")
"""What TRL's preference trainers log beside the loss (DPO, KTO, ORPO/SimPO, reward model), kept as TRL names them,
train and eval_ alike."""
GRPO_METRICS = ("reward", "reward_std", "frac_reward_zero_std", "entropy", "completions/mean_length",
                "completions/max_length", "completions/clipped_ratio", "completions/mean_terminated_length",
                "clip_ratio/region_mean")
"""What TRL's GRPOTrainer logs beside the loss and kl: the weighted reward's mean and spread, the completions' lengths.
Each reward function's own mean and spread (rewards/<name>/mean, rewards/<name>/std) are kept too (`kept`)."""
LOGGED = ("loss", "eval_loss", "learning_rate", "grad_norm", "eval_perplexity", "perplexity",
          *PREFERENCE_METRICS, *(f"eval_{key}" for key in PREFERENCE_METRICS),
          *GRPO_METRICS, *(f"eval_{key}" for key in GRPO_METRICS))


def kept(key: str) -> bool:
    """A logged key trainer_log.jsonl keeps: LOGGED, or a GRPO reward function's rewards/<name>/mean or /std."""
    plain = key[len("eval_"):] if key.startswith("eval_") else key
    return key in LOGGED or (plain.startswith("rewards/") and plain.endswith(("/mean", "/std")))


class JsonlLogCallback(TrainerCallback):
    """Append one JSON line per logging step to `output_dir/trainer_log.jsonl` (main process only).

    Fields: step, total_steps, epoch, loss / eval_loss, lr, tokens_per_s, elapsed_s, eta_s, and the preference
    stages' own metrics (PREFERENCE_METRICS: rewards/chosen, rewards/margins, ...; GRPO_METRICS and each reward's
    rewards/<name>/mean and /std; eval_ too). A resumed
    run first drops the lines logged after its checkpoint (the killed run's last steps are redone),
    then appends, so the log covers the whole training once.
    """

    def __init__(self) -> None:
        self.start_time = 0.0
        self.start_step = 0
        self.start_tokens = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start_time = time.perf_counter()
        self.start_step = state.global_step  # non-zero when resuming: rate and ETA count this run only
        self.start_tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
        if state.is_world_process_zero:
            _truncate_after(os.path.join(args.output_dir, LOG_NAME), state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs or not ({"loss", "eval_loss"} & logs.keys()):
            return  # the end-of-training summary repeats totals, not a new point of the curve
        elapsed = time.perf_counter() - self.start_time
        steps_done = state.global_step - self.start_step
        record: dict[str, Any] = {"step": state.global_step, "total_steps": state.max_steps,
                                  "epoch": round(state.epoch or 0.0, 4)}
        for key, value in logs.items():
            if kept(key):
                record["lr" if key == "learning_rate" else key] = value
        tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0) - self.start_tokens
        if elapsed > 0 and tokens > 0:
            record["tokens_per_s"] = round(tokens / elapsed, 1)
        record["elapsed_s"] = round(elapsed, 1)
        if steps_done > 0 and state.max_steps:
            record["eta_s"] = round(elapsed / steps_done * (state.max_steps - state.global_step), 1)
        os.makedirs(args.output_dir, exist_ok=True)
        append_jsonl(os.path.join(args.output_dir, LOG_NAME), [record])  # whole lines, never glued onto a torn one


def _truncate_after(path: str, step: int) -> None:
    """Keep only the records up to `step`, and no torn last line (atomically: a crash here leaves the old file)."""
    if os.path.exists(path):
        write_jsonl(path, [record for record in read_jsonl(path) if record.get("step", 0) <= step])


class ResumedScheduleCallback(TrainerCallback):
    """A resumed run follows its own learning-rate schedule from the first step on.

    Why: transformers loads the checkpoint's optimizer and scheduler state over the new ones, and with it the
    learning rate the old schedule reached and the old base rates. After raising max_steps (the old linear schedule
    had reached 0), the first resumed step then trained with lr 0, and a new learning_rate was ignored for the
    whole run. With the same settings the values set here equal the loaded ones, so resuming changes nothing.
    """

    def __init__(self) -> None:
        self.base_lrs: list[float] | None = None

    def on_init_end(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any) -> None:
        if optimizer is not None:  # one the stage built (LoRA+: its own rate per group), before any checkpoint loads
            self.base_lrs = [group["lr"] for group in optimizer.param_groups]

    def on_train_begin(self, args: Any, state: Any, control: Any, optimizer: Any = None, lr_scheduler: Any = None,
                       **kwargs: Any) -> None:
        from torch.optim.lr_scheduler import LambdaLR

        if state.global_step == 0 or optimizer is None or not isinstance(lr_scheduler, LambdaLR):
            return  # a fresh run, or a scheduler of DeepSpeed's config (restored by DeepSpeed as configured)
        groups = optimizer.param_groups
        bases = self.base_lrs if self.base_lrs and len(self.base_lrs) == len(groups) else [args.learning_rate] * len(groups)
        lr_scheduler.base_lrs = list(bases)
        for group, base in zip(groups, bases):
            group["initial_lr"] = base
        # step() recomputes every group's rate at last_epoch + 1: one back first, so the position stays the same
        lr_scheduler.last_epoch -= 1
        with warnings.catch_warnings():  # "lr_scheduler.step() before optimizer.step()": intended here
            warnings.simplefilter("ignore", UserWarning)
            lr_scheduler.step()


class RunRecordCallback(TrainerCallback):
    """llmtuner_args.json in every checkpoint as well as beside the final model: an export or evaluation of
    checkpoint-N then knows the run too (its QLoRA base, datasets, template)."""

    def __init__(self, run_args: Any) -> None:
        self.run_args = run_args

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from .common import save_run_record

        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if state.is_world_process_zero and os.path.isdir(folder):
            save_run_record(self.run_args, folder)
