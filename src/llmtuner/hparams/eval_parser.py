"""`llmtuner eval` arguments: the same file + flags rules as training, with the evaluator's groups."""

from typing import Any

from ..extras.errors import ConfigError
from .config import EvalConfig
from .data_args import DataArguments
from .eval_args import EvaluationArguments
from .generating_args import GeneratingArguments
from .model_args import ModelArguments
from .reader import assign_to_groups, format_groups_help, read_sources
from .validate_eval import validate_eval_config

EVAL_GROUPS: tuple[type, ...] = (ModelArguments, DataArguments, GeneratingArguments, EvaluationArguments)
# Training-data knobs that mean nothing when scoring; refusing them catches configs copied from training.
TRAINING_ONLY_DATA = {
    "dataset": "It is a training argument; the evaluator reads `eval_dataset`.",
    **dict.fromkeys(("mix_strategy", "interleave_probs", "val_size", "packing", "train_on_prompt", "mask_history",
                     "strict_data"),
                    "It only affects training data."),
}


def pop_compare(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """`--compare DIR_A DIR_B` takes two values, unlike every other flag."""
    argv = list(argv)
    for index, token in enumerate(argv):
        if token == "--compare":
            folders = argv[index + 1 : index + 3]
            if len(folders) != 2 or any(folder.startswith("--") for folder in folders):
                raise ConfigError("--compare needs two evaluation output folders: --compare DIR_A DIR_B.")
            del argv[index : index + 3]
            return argv, folders
    return argv, None


def parse_eval_args(argv: list[str] | None = None, config: dict[str, Any] | None = None) -> EvalConfig:
    """Parse `[CONFIG] --key value ...` for the evaluator and check every combination."""
    compare = None
    if config is None:
        argv, compare = pop_compare(list(argv or []))
    sources, config_file = read_sources(argv, config)
    if compare is not None:
        sources["compare"] = (compare, "on the command line")
    values, _ = assign_to_groups(sources, EVAL_GROUPS, "eval", refused=TRAINING_ONLY_DATA)
    values[GeneratingArguments].setdefault("max_new_tokens", 256)  # clinical answers; 512 doubles the time for little
    parsed = EvalConfig(
        model=ModelArguments(**values[ModelArguments]), data=DataArguments(**values[DataArguments]),
        generating=GeneratingArguments(**values[GeneratingArguments]),
        eval=EvaluationArguments(**values[EvaluationArguments]), config_file=config_file,
    )
    validate_eval_config(parsed)
    return parsed


def format_eval_help() -> str:
    header = ["usage: llmtuner eval [CONFIG.yaml] [--key value ...]   (also: python src/evaluate.py ...)", "",
              "Score a model (or a predictions file) on clinical QA, exam questions or held-out text.",
              "  --compare DIR_A DIR_B   side-by-side table of two evaluation outputs, with deltas."]
    return format_groups_help(header, EVAL_GROUPS, hidden=tuple(TRAINING_ONLY_DATA))
