"""Read a YAML/JSON config and command-line flags into the argument dataclasses.

Flags override the file. Unknown keys, wrong types and invalid choices fail here with a message
that names the key, where it came from, and the valid alternatives. Cross-argument checks live in
`validate.py`; after `parse_args` returns, no other module raises an argument error, except
`build_training_arguments`, which needs torch to know what the hardware supports.
"""

import dataclasses
import difflib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from ..extras.errors import ConfigError
from .data_args import DataArguments
from .finetuning_args import FinetuningArguments
from .generating_args import GeneratingArguments
from .model_args import ModelArguments
from .training_fields import training_field_docs

ARGUMENT_GROUPS: tuple[type, ...] = (ModelArguments, DataArguments, FinetuningArguments, GeneratingArguments)

# Keys that transformers 4.x accepted and 5.x renamed or dropped: say what to write instead.
RENAMED_KEYS = {
    "evaluation_strategy": "eval_strategy",
    "no_cuda": "use_cpu",
    "use_mps_device": "use_cpu (MPS is picked automatically)",
    "torch_dtype": "dtype",
    "quantization_method": "quantization_bit (bitsandbytes is the supported method)",
}

# Training-argument defaults that differ from transformers' because they suit fine-tuning better.
TRAINING_DEFAULTS: dict[str, Any] = {
    "report_to": "none",  # wandb/tensorboard only when asked: medical data must not leave the machine unasked
    "logging_steps": 10,
    "include_num_input_tokens_seen": "non_padding",  # tokens/s in trainer_log.jsonl counts real tokens only
    "ddp_timeout": 180000000,  # preprocessing on rank 0 of a big corpus outlasts the 30-minute default
}
CHECKPOINTING_KEYS = ("activation_checkpointing", "gradient_checkpointing")
"""Gradient checkpointing is on by default; transformers 5.24 renamed the key, 5.23 has only the old one."""

# Training keys the validator reads before transformers is imported, with their types.
_EARLY_TRAINING_TYPES: dict[str, type] = {
    "output_dir": str, "do_train": bool, "do_eval": bool, "do_predict": bool, "predict_with_generate": bool,
    "bf16": bool, "fp16": bool, "max_steps": int, "use_cpu": bool, "per_device_train_batch_size": int,
    "gradient_accumulation_steps": int, "learning_rate": float, "num_train_epochs": float,
}


@dataclass
class Arguments:
    """Everything a run needs, grouped as in the config reference."""

    model: ModelArguments
    data: DataArguments
    finetuning: FinetuningArguments
    generating: GeneratingArguments
    training: dict[str, Any] = field(default_factory=dict)
    """Seq2SeqTrainingArguments keys and values; `build_training_arguments` turns them into the object."""
    config_file: str | None = None


def read_config_file(path: str) -> dict[str, Any]:
    """Load a YAML or JSON mapping of argument names to values."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"Config file {path} does not exist. Pass the path to a .yaml or .json file (see configs/).")
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"Config file {path} is not valid JSON: {error}. Fix the line named.") from error
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:  # the message carries line and column
            raise ConfigError(f"Config file {path} is not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of `key: value` lines, got {type(data).__name__}.")
    return data


CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


def split_cli(argv: list[str]) -> tuple[str | None, dict[str, Any]]:
    """`[CONFIG] --key value --key=value --flag` -> (config path, {key: raw value})."""
    config_file = None
    overrides: dict[str, Any] = {}
    index = 0
    while index < len(argv):
        token = argv[index]
        if not token.startswith("--"):
            # The config file comes first, or after `--local_rank=N`, which the deepspeed launcher puts before
            # the script's own arguments: a lone .yaml/.yml/.json is the config wherever it stands.
            if config_file is None and (index == 0 or token.endswith(CONFIG_SUFFIXES)):
                config_file = token
                index += 1
                continue
            raise ConfigError(
                f"Unexpected argument {token!r}: give at most one config file (.yaml, .yml or .json), "
                "then --key value pairs."
            )
        key, has_value, value = token[2:].partition("=")
        key = key.replace("-", "_")
        if not has_value:
            if index + 1 < len(argv) and not argv[index + 1].startswith("--"):
                value = argv[index + 1]
                index += 1
            else:
                value = "true"  # a bare --flag switches a boolean on
        overrides[key] = value
        index += 1
    return config_file, overrides


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, annotation: Any, key: str, origin: str) -> Any:
    """Convert a YAML value or CLI string to the field's annotated type, or raise ConfigError."""
    kind = typing.get_origin(annotation)
    if kind in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if value is None:
            return None
        if isinstance(value, str):
            text = value.strip().lower()
            # "none" is a real value of some string fields (report_to: none), so it only means None
            # where the field cannot hold a string.
            if text in ("null", "~", "") or (text == "none" and str not in members):
                return None
        if len(members) == 1:
            return _coerce(value, members[0], key, origin)
        if isinstance(value, str) and "," in value and any(typing.get_origin(m) is list for m in members):
            return [item.strip() for item in value.split(",") if item.strip()]  # report_to: wandb,tensorboard
        return value
    if kind is Literal:
        choices = typing.get_args(annotation)
        for choice in choices:
            if value == choice or str(value) == str(choice):
                return choice
        valid = ", ".join(str(choice) for choice in choices)
        raise ConfigError(f"{key}: {value!r} ({origin}) is not a valid choice. Valid choices: {valid}.")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {value!r} ({origin}).")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r} ({origin}).")
        try:
            number = float(value) if annotation is float else int(str(value))
        except ValueError:
            kind_name = "an integer" if annotation is int else "a number"
            raise ConfigError(f"{key}: expected {kind_name}, got {value!r} ({origin}).") from None
        return number
    if annotation is str:
        return value if isinstance(value, str) else str(value)
    return value


def _suggest(key: str, valid: list[str], command: str = "train") -> str:
    if key in RENAMED_KEYS:
        return f" In transformers 5 this is `{RENAMED_KEYS[key]}`."
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
    if close:
        return " Did you mean " + " or ".join(f"`{name}`" for name in close) + "?"
    return f" Run `llmtuner {command} --help` for every valid key."


def read_sources(argv: list[str] | None, config: dict[str, Any] | None) -> tuple[dict[str, tuple[Any, str]], str | None]:
    """(key -> (value, origin), config file) from a dict, or from `[CONFIG] --key value ...`."""
    if config is not None:
        return {key: (value, "in the given config") for key, value in config.items()}, None
    config_file, overrides = split_cli(list(argv or []))
    return merge_sources(config_file, overrides), config_file


def assign_to_groups(
    merged: dict[str, tuple[Any, str]], groups: tuple[type, ...], command: str, refused: dict[str, str] | None = None
) -> dict[type, dict[str, Any]]:
    """Typed values per dataclass for a command that takes only `groups` (eval, export).

    `refused` maps keys that exist elsewhere (e.g. training's `dataset`) to what to use instead.
    Every unknown key is reported at once, with the closest valid names.
    """
    hints = {cls: _type_hints(cls) for cls in groups}
    owner = {name: cls for cls in groups for name in hints[cls]}
    refused = refused or {}
    problems = []
    for key, (_, origin) in merged.items():
        if key in refused:
            problems.append(f"`{key}` ({origin}) is not an argument of `llmtuner {command}`. {refused[key]}")
        elif key not in owner:
            problems.append(f"`{key}` ({origin}) is not an argument of `llmtuner {command}`.{_suggest(key, sorted(owner), command)}")
    if problems:
        raise ConfigError("Unknown config key" + ("s" if len(problems) > 1 else "") + ":\n  " + "\n  ".join(problems))
    values: dict[type, dict[str, Any]] = {cls: {} for cls in groups}
    for key, (value, origin) in merged.items():
        values[owner[key]][key] = _coerce(value, hints[owner[key]][key], key, origin)
    return values


def format_groups_help(header: list[str], groups: tuple[type, ...], hidden: tuple[str, ...] = ()) -> str:
    """`--help` text: the header lines, then every field of every group (minus `hidden`) with its help."""
    lines = list(header)
    for cls in groups:
        lines += ["", f"{cls.__name__}:"]
        hints = _type_hints(cls)
        for item in dataclasses.fields(cls):
            if item.name not in hidden:
                lines.append(_help_line(item.name, _annotation_name(hints[item.name]), repr(item.default), item.metadata.get("help", "")))
    return "\n".join(lines)


def merge_sources(config_file: str | None, overrides: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    """File values, then CLI values on top; each remembers where it came from for error messages."""
    merged: dict[str, tuple[Any, str]] = {}
    if config_file is not None:
        for key, value in read_config_file(config_file).items():
            merged[str(key)] = (value, f"in {config_file}")
    for key, value in overrides.items():
        merged[key] = (value, "on the command line")
    return merged


def parse_args(
    argv: list[str] | None = None, config: dict[str, Any] | None = None, command: str = "train"
) -> "Arguments":
    """Parse `[CONFIG] --key value ...` (or a dict) into `Arguments`, then validate every combination.

    `command` says what the arguments are for ("train" or "preview"): preview writes nothing, so
    it needs no output_dir.
    """
    from .validate import validate_arguments

    if config is not None:
        merged = {key: (value, "in the given config") for key, value in config.items()}
        config_file = None
    else:
        config_file, overrides = split_cli(list(argv or []))
        merged = merge_sources(config_file, overrides)

    hints = {cls: _type_hints(cls) for cls in ARGUMENT_GROUPS}
    owner = {name: cls for cls in ARGUMENT_GROUPS for name in hints[cls]}
    training_docs = training_field_docs()
    valid = sorted(set(owner) | set(training_docs))

    unknown = [key for key in merged if key not in owner and key not in training_docs]
    if unknown:
        lines = [f"`{key}` ({merged[key][1]}) is not an argument.{_suggest(key, valid)}" for key in unknown]
        raise ConfigError("Unknown config key" + ("s" if len(lines) > 1 else "") + ":\n  " + "\n  ".join(lines))

    values: dict[type, dict[str, Any]] = {cls: {} for cls in ARGUMENT_GROUPS}
    training: dict[str, Any] = dict(TRAINING_DEFAULTS)
    if not any(key in merged for key in CHECKPOINTING_KEYS):
        training[next(key for key in CHECKPOINTING_KEYS if key in training_docs)] = True
    for key, (value, origin) in merged.items():
        if key in owner:
            values[owner[key]][key] = _coerce(value, hints[owner[key]][key], key, origin)
        elif key in _EARLY_TRAINING_TYPES:
            training[key] = _coerce(value, _EARLY_TRAINING_TYPES[key] | None, key, origin)
        else:
            training[key] = value  # typed against the real dataclass in build_training_arguments

    args = Arguments(
        model=ModelArguments(**values[ModelArguments]),
        data=DataArguments(**values[DataArguments]),
        finetuning=FinetuningArguments(**values[FinetuningArguments]),
        generating=GeneratingArguments(**values[GeneratingArguments]),
        training=training,
        config_file=config_file,
    )
    validate_arguments(args, command)
    return args


def build_training_arguments(args: Arguments) -> Any:
    """Turn `args.training` into transformers' Seq2SeqTrainingArguments (imports torch and transformers)."""
    from .validate import validate_hardware

    validate_hardware(args)
    from transformers import Seq2SeqTrainingArguments

    hints = typing.get_type_hints(Seq2SeqTrainingArguments)
    kwargs = {key: _coerce(value, hints[key], key, "training argument") for key, value in args.training.items()}
    from ..extras.distributed import prepare_cpu_deepspeed

    prepare_cpu_deepspeed(kwargs)
    try:
        return Seq2SeqTrainingArguments(**kwargs)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"Invalid training arguments: {error}") from error


def format_help(command: str = "train") -> str:
    """Every argument with its type, default and help text, grouped; no heavy imports."""
    lines = [f"usage: llmtuner {command} [CONFIG.yaml|CONFIG.json] [--key value ...]", ""]
    lines.append("Flags override the config file. Booleans: --flag, --flag true, --flag false.")
    for cls in ARGUMENT_GROUPS:
        lines += ["", f"{cls.__name__}:"]
        hints = _type_hints(cls)
        for item in dataclasses.fields(cls):
            lines.append(_help_line(item.name, _annotation_name(hints[item.name]), repr(item.default), item.metadata.get("help", "")))
    lines += ["", "Seq2SeqTrainingArguments (transformers):"]
    for doc in training_field_docs().values():
        default = repr(TRAINING_DEFAULTS[doc.name]) if doc.name in TRAINING_DEFAULTS else doc.default
        lines.append(_help_line(doc.name, doc.annotation, default, doc.help))
    return "\n".join(lines)


def _annotation_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is Literal:
        return "{" + ",".join(str(choice) for choice in typing.get_args(annotation)) + "}"
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else None
    return text or str(annotation).replace("typing.", "")


def _help_line(name: str, annotation: str, default: str, help_text: str) -> str:
    return f"  --{name} {annotation} (default: {default})\n      {help_text}"
