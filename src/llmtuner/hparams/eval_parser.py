"""`llmtuner eval` arguments: the same file + flags rules as training, with the evaluator's groups."""

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..extras.errors import ConfigError
from .data_args import DataArguments
from .eval_args import EvaluationArguments
from .generating_args import GeneratingArguments
from .model_args import ModelArguments
from .parser import _annotation_name, _coerce, _help_line, _suggest, _type_hints, merge_sources, split_cli

EVAL_GROUPS: tuple[type, ...] = (ModelArguments, DataArguments, GeneratingArguments, EvaluationArguments)
# Training-data knobs that mean nothing when scoring; refusing them catches configs copied from training.
_TRAINING_ONLY_DATA = ("dataset", "mix_strategy", "interleave_probs", "val_size", "packing", "train_on_prompt", "mask_history")


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
    if config is not None:
        merged = {key: (value, "in the given config") for key, value in config.items()}
        config_file = None
    else:
        rest, compare = pop_compare(list(argv or []))
        config_file, overrides = split_cli(rest)
        merged = merge_sources(config_file, overrides)
    if compare is not None:
        merged["compare"] = (compare, "on the command line")
    hints = {cls: _type_hints(cls) for cls in EVAL_GROUPS}
    owner = {name: cls for cls in EVAL_GROUPS for name in hints[cls]}
    problems = []
    for key in merged:
        if key not in owner or key in _TRAINING_ONLY_DATA:
            hint = " It is a training argument; the evaluator reads `eval_dataset`." if key == "dataset" else _suggest(key, sorted(owner))
            problems.append(f"`{key}` ({merged[key][1]}) is not an evaluation argument.{hint}")
    if problems:
        raise ConfigError("Unknown config key" + ("s" if len(problems) > 1 else "") + ":\n  " + "\n  ".join(problems))
    values: dict[type, dict[str, Any]] = {cls: {} for cls in EVAL_GROUPS}
    for key, (value, origin) in merged.items():
        values[owner[key]][key] = _coerce(value, hints[owner[key]][key], key, origin)
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
    lines = ["usage: llmtuner eval [CONFIG.yaml] [--key value ...]   (also: python src/evaluate.py ...)", "",
             "Score a model (or a predictions file) on clinical QA, exam questions or held-out text.",
             "  --compare DIR_A DIR_B   side-by-side table of two evaluation outputs, with deltas."]
    for cls in EVAL_GROUPS:
        lines += ["", f"{cls.__name__}:"]
        hints = _type_hints(cls)
        for item in dataclasses.fields(cls):
            if item.name in _TRAINING_ONLY_DATA:
                continue
            lines.append(_help_line(item.name, _annotation_name(hints[item.name]), repr(item.default), item.metadata.get("help", "")))
    return "\n".join(lines)
