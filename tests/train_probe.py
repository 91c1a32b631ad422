"""A training entry point for tests that run training in child processes (torchrun, SIGKILL).

Same as `python src/train_bash.py ...`, plus test-only instruments chosen by environment:
  PROBE_BATCH_DIR     each rank appends the token ids of every sample it collates to rank<RANK>.jsonl
                      (proves that ranks are given different data);
  PROBE_STALL_SAVE    a step N: while saving checkpoint-N, once the trainer has written everything but the
                      trainer_state.json it writes last (weights, optimizer, scheduler, RNG state), write the
                      file named by PROBE_STALL_MARKER (its content: the checkpoint folder) and sleep 600 s
                      before going on, so a test can SIGKILL the run in the middle of a checkpoint save;
  PROBE_STALL_RELEASE with PROBE_STALL_SAVE: a file whose appearance ends the stall early, so a test can hold
                      a run busy in its save (its output_dir locked) and then let it finish.
"""

import json
import os
import sys
import time
from pathlib import Path

from llmtuner.data import collator
from llmtuner.extras.distributed import exit_finished_rank
from llmtuner.extras.hub_kernels import import_bitsandbytes_offline
from llmtuner.hparams import parse_train_args
from llmtuner.train.tuner import run_training

STALL_SECONDS = 600


def record_batches(folder: str) -> None:
    collate = collator.SupervisedCollator.__call__

    def recording(self, features):
        with open(os.path.join(folder, f"rank{os.environ.get('RANK', '0')}.jsonl"), "a") as handle:
            for feature in features:
                handle.write(json.dumps(list(feature["input_ids"])) + "\n")
        return collate(self, features)

    collator.SupervisedCollator.__call__ = recording


def stall_in_checkpoint_save(step: int, marker: str, release: str | None = None) -> None:
    """Trainer._save_checkpoint writes trainer_state.json last (TrainerState.save_to_json); stall just before
    it does so for checkpoint-`step`. A callback's on_save would come too late: it runs after the save."""
    from transformers.trainer_callback import TrainerState

    save_to_json = TrainerState.save_to_json

    def stalling(self, json_path):
        folder = Path(json_path).parent
        if folder.name == f"checkpoint-{step}":
            Path(marker).write_text(str(folder), encoding="utf-8")
            deadline = time.monotonic() + STALL_SECONDS
            while time.monotonic() < deadline and not (release and Path(release).exists()):
                time.sleep(0.05)
        return save_to_json(self, json_path)

    TrainerState.save_to_json = stalling


if __name__ == "__main__":
    if os.environ.get("PROBE_BATCH_DIR"):
        record_batches(os.environ["PROBE_BATCH_DIR"])
    if os.environ.get("PROBE_STALL_SAVE"):
        stall_in_checkpoint_save(int(os.environ["PROBE_STALL_SAVE"]), os.environ["PROBE_STALL_MARKER"],
                                 os.environ.get("PROBE_STALL_RELEASE"))
    import_bitsandbytes_offline()  # as `llmtuner train` does
    run_training(parse_train_args(sys.argv[1:]))
    exit_finished_rank()  # as `llmtuner train` does
