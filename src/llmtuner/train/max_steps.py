"""Resuming from a checkpoint that already reached max_steps trains nothing (transformers would train one step more)."""

from typing import Any

from transformers import TrainerCallback


class NothingLeftToTrain(Exception):
    """Raised by StopAtMaxSteps before a step past max_steps; run_trainer catches it."""


class StopAtMaxSteps(TrainerCallback):
    """A run resumed from a checkpoint that already reached max_steps trains nothing.

    transformers' loop checks max_steps only after a step: resumed from checkpoint-4 of a 4-step run (the same
    command run again, e.g. after the final save met a full disk) it trained a step 5 and saved that as the
    final model. The checkpoint's weights are loaded before the first on_step_begin, so stopping here leaves
    exactly them in the model, for the final save.
    """

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.max_steps > 0 and state.global_step >= state.max_steps:
            raise NothingLeftToTrain
