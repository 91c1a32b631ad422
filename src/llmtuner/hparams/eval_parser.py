"""`llmtuner eval` arguments: the same file + flags rules as training, with the evaluator's groups."""

from dataclasses import dataclass
from typing import Any

from ..extras.errors import ConfigError
from .data_args import DataArguments
from .eval_args import EvaluationArguments
from .generating_args import GeneratingArguments
from .model_args import ModelArguments
from .parser import assign_to_groups, format_groups_help, read_sources

EVAL_GROUPS: tuple[type, ...] = (ModelArguments, DataArguments, GeneratingArguments, EvaluationArguments)
# Training-data knobs that mean nothing when scoring; refusing them catches configs copied from training.
_TRAINING_ONLY_DATA = {
    "dataset": "It is a training argument; the evaluator reads `eval_dataset`.",
    **{key: "It only affects training data." for key in
       ("mix_strategy", "interleave_probs", "val_size", "packing", "train_on_prompt", "mask_history")},
}


@dataclass
class EvalArguments:
    model: ModelArguments
    data: DataArguments
    generating: GeneratingArguments
    eval: EvaluationArguments
    config_file: str | None = None


def pop_compare(argv: list[str]) -> tuple[list[str], str | None]:
    """`--compare DIR_A DIR_B` takes two values, unlike every other flag; turn it into "DIR_A,DIR_B"."""
    argv = list(argv)
    for index, token in enumerate(argv):
        if token == "--compare":
            folders = argv[index + 1 : index + 3]
            if len(folders) != 2 or any(folder.startswith("--") for folder in folders):
                raise ConfigError("--compare needs two evaluation output folders: --compare DIR_A DIR_B.")
            del argv[index : index + 3]
            return argv, ",".join(folders)
    return argv, None


def parse_eval_args(argv: list[str] | None = None, config: dict[str, Any] | None = None) -> EvalArguments:
    """Parse `[CONFIG] --key value ...` for the evaluator and check every combination."""
    compare = None
    if config is None:
        argv, compare = pop_compare(list(argv or []))
    merged, config_file = read_sources(argv, config)
    if compare is not None:
        merged["compare"] = (compare, "on the command line")
    values = assign_to_groups(merged, EVAL_GROUPS, "eval", refused=_TRAINING_ONLY_DATA)
    values[GeneratingArguments].setdefault("max_new_tokens", 256)  # clinical answers; 512 doubles the time for little
    args = EvalArguments(
        model=ModelArguments(**values[ModelArguments]), data=DataArguments(**values[DataArguments]),
        generating=GeneratingArguments(**values[GeneratingArguments]),
        eval=EvaluationArguments(**values[EvaluationArguments]), config_file=config_file,
    )
    from .validate import validate_eval_arguments

    validate_eval_arguments(args)
    return args


def format_eval_help() -> str:
    header = ["usage: llmtuner eval [CONFIG.yaml] [--key value ...]   (also: python src/evaluate.py ...)", "",
              "Score a model (or a predictions file) on clinical QA, exam questions or held-out text.",
              "  --compare DIR_A DIR_B   side-by-side table of two evaluation outputs, with deltas."]
    return format_groups_help(header, EVAL_GROUPS, hidden=tuple(_TRAINING_ONLY_DATA))
