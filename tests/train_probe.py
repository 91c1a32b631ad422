"""A training entry point for tests that run training in child processes (torchrun, SIGKILL).

Same as `python src/train_bash.py ...`, plus two test-only instruments chosen by environment:
  PROBE_BATCH_DIR   each rank appends the token ids of every sample it collates to rank<RANK>.jsonl
                    (proves that ranks are given different data);
  PROBE_STEP_DELAY  seconds to sleep after each optimizer step (gives a test time to kill the run).
"""

import json
import os
import sys
import time

from transformers import TrainerCallback

from llmtuner.data import collator
from llmtuner.hparams import parse_train_args
from llmtuner.train.tuner import run_training


class SleepAfterStep(TrainerCallback):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(self.seconds)


def record_batches(folder: str) -> None:
    collate = collator.SupervisedCollator.__call__

    def recording(self, features):
        with open(os.path.join(folder, f"rank{os.environ.get('RANK', '0')}.jsonl"), "a") as handle:
            for feature in features:
                handle.write(json.dumps(list(feature["input_ids"])) + "\n")
        return collate(self, features)

    collator.SupervisedCollator.__call__ = recording


if __name__ == "__main__":
    if os.environ.get("PROBE_BATCH_DIR"):
        record_batches(os.environ["PROBE_BATCH_DIR"])
    delay = float(os.environ.get("PROBE_STEP_DELAY", "0"))
    run_training(parse_train_args(sys.argv[1:]), callbacks=[SleepAfterStep(delay)] if delay else None)
