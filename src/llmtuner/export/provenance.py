"""What the training run left in its output folder, for the model card: hyperparameters and results.

Read, in order of preference: adapter_config.json (LoRA settings), trainer_state.json and all_results.json
(plain JSON), and training_args.bin, the Trainer's pickled TrainingArguments, for what only it holds
(learning rate, accumulation, scheduler, precision). The pickle is opened with `torch.load(weights_only=True)`
and an allow-list of the transformers/accelerate classes it is made of, so a folder from elsewhere cannot
run code; a file that needs anything else is skipped with a log line.
"""

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..extras.constants import RUN_RECORD
from ..extras.logging import get_logger

logger = get_logger(__name__)

TRAINING_ARGS_CLASSES = (
    "transformers.training_args_seq2seq.Seq2SeqTrainingArguments", "transformers.training_args.TrainingArguments",
    "transformers.training_args.OptimizerNames", "transformers.trainer_utils.SchedulerType",
    "transformers.trainer_utils.IntervalStrategy", "transformers.trainer_utils.SaveStrategy",
    "transformers.trainer_utils.HubStrategy", "transformers.trainer_utils.FSDPOption",
    "transformers.debug_utils.DebugOption", "transformers.trainer_pt_utils.AcceleratorConfig",
    "accelerate.state.PartialState", "accelerate.utils.dataclasses.DistributedType",
)
RESULT_KEYS = ("train_loss", "eval_loss", "eval_perplexity", "num_input_tokens_seen", "train_runtime",
               "train_samples_per_second")


@dataclass
class TrainingFacts:
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _allowed_classes() -> list[Any]:
    classes = []
    for dotted in TRAINING_ARGS_CLASSES:
        module, _, name = dotted.rpartition(".")
        try:
            classes.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):  # renamed in another version: the load may then skip the file
            continue
    return classes


def load_training_args(path: Path) -> Any | None:
    """The pickled TrainingArguments, without running code from the file; None if it needs unknown classes."""
    import torch

    try:
        with torch.serialization.safe_globals(_allowed_classes()):
            return torch.load(str(path), weights_only=True)
    except Exception as error:  # UnpicklingError for an unlisted class, or a corrupt file: the card just says less
        logger.info("Not reading %s (%s); the model card lists the hyperparameters from the JSON files only.",
                    path, str(error).splitlines()[0][:200])
        return None


def _value(value: Any) -> Any:
    return getattr(value, "value", value)  # enums (scheduler, optimizer) as their names


def read_run_record(folder: Path | None) -> dict[str, Any]:
    """llmtuner_args.json that `llmtuner train` writes beside the adapter/model; {} when absent (older runs)."""
    return (_json(folder / RUN_RECORD) or {}) if folder is not None else {}


def read_training_facts(folder: Path | None) -> TrainingFacts:
    """Hyperparameters and results of the run whose output folder is `folder` (an adapter or a fine-tuned model)."""
    facts = TrainingFacts()
    if folder is None:
        return facts
    hp = facts.hyperparameters
    args_file = folder / "training_args.bin"
    args = load_training_args(args_file) if args_file.is_file() else None
    if args is not None:
        facts.sources.append(args_file.name)
        hp["learning_rate"] = args.learning_rate
        if getattr(args, "max_steps", -1) and args.max_steps > 0:
            hp["max_steps"] = args.max_steps
        else:
            hp["num_train_epochs"] = args.num_train_epochs
        hp["per_device_train_batch_size"] = args.per_device_train_batch_size
        hp["gradient_accumulation_steps"] = args.gradient_accumulation_steps
        hp["lr_scheduler_type"] = _value(args.lr_scheduler_type)
        warmup = getattr(args, "warmup_steps", 0) or getattr(args, "warmup_ratio", 0)
        if warmup:
            hp["warmup"] = warmup
        hp["weight_decay"] = args.weight_decay
        hp["optimizer"] = _value(args.optim)
        hp["precision"] = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
        if getattr(args, "deepspeed", None):
            hp["deepspeed"] = Path(str(args.deepspeed)).name if isinstance(args.deepspeed, str) else "yes"
        hp["seed"] = args.seed
    state = _json(folder / "trainer_state.json")
    if state is not None:
        facts.sources.append("trainer_state.json")
        hp.setdefault("per_device_train_batch_size", state.get("train_batch_size"))
        hp["global_steps"] = state.get("global_step")
        hp["epochs_done"] = round(float(state.get("epoch") or 0), 4)
    results = _json(folder / "all_results.json")
    if results is not None:
        facts.sources.append("all_results.json")
        facts.results = {key: results[key] for key in RESULT_KEYS if key in results}
    return facts
