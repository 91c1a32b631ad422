"""The one reader of arguments: a YAML/JSON file and `--key value` flags -> typed values per dataclass.

Every command (train, preview, eval, export) reads its arguments here, so they all follow the same rules:
flags override the file; each value remembers where it came from, for error messages; values are coerced
to the field's annotation (booleans, numbers, choices, lists); unknown keys fail with the closest valid
names. List-valued keys (`dataset`, `lora_target`, `adapter_name_or_path`, ...) are typed `list[...]` and
parsed here once: a YAML list, or a string of comma-separated items (spaces around items and a trailing
comma are fine). The reader only reads: it sets no environment variable and imports nothing heavy.
"""

import dataclasses
import difflib
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from ..extras.errors import ConfigError

Sources = dict[str, tuple[Any, str]]
"""key -> (raw value, where it came from: "in FILE", "on the command line", "in the given config")."""

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")

# Keys that transformers 4.x accepted and 5.x renamed or dropped: say what to write instead.
RENAMED_KEYS = {
    "evaluation_strategy": "eval_strategy",
    "no_cuda": "use_cpu",
    "use_mps_device": "use_cpu (MPS is picked automatically)",
    "torch_dtype": "dtype",
    "quantization_method": "quantization_bit (bitsandbytes is the supported method)",
}


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
        except yaml.YAMLError as error:
            raise ConfigError(f"Config file {path} is not valid YAML{_yaml_place(error)}: {_yaml_problem(error)}. "
                              "Fix that line (a list is `[a, b]` or `a,b`; quote values holding `: ` or `#`).") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of `key: value` lines, got {type(data).__name__}.")
    return data


def _yaml_place(error: Exception) -> str:
    """` (line L, column C)` of a YAML error, 1-based as editors count, or "" when the parser gives none."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is None:
        return ""
    opened = getattr(error, "context_mark", None)  # e.g. where an unclosed [ or { began
    began = f", in what line {opened.line + 1} opened" if opened is not None and opened.line != mark.line else ""
    return f" (line {mark.line + 1}, column {mark.column + 1}{began})"


def _yaml_problem(error: Exception) -> str:
    """What the YAML parser found, in one line, without its excerpt of the file."""
    parts = [getattr(error, "context", None), getattr(error, "problem", None)]
    return "; ".join(part for part in parts if part) or str(error).splitlines()[0]


class RepeatedFlag(list):
    """The values of a flag given more than once on the command line. A field whose metadata says `repeatable`
    (`--api_key A --api_key B`) takes them all; any other key takes the last, as launchers rely on."""


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
        if key in overrides:  # the last one wins (launchers append the user's flags), except for `repeatable` fields
            previous = overrides[key]
            overrides[key] = RepeatedFlag([*(previous if isinstance(previous, RepeatedFlag) else [previous]), value])
        else:
            overrides[key] = value
        index += 1
    return config_file, overrides


def read_sources(argv: list[str] | None = None, config: dict[str, Any] | None = None) -> tuple[Sources, str | None]:
    """(key -> (value, origin), config file) from a dict, or from `[CONFIG] --key value ...`.

    File values come first and flags on top; a dict (from Python callers and tests) is taken as it is.
    """
    if config is not None:
        return {str(key): (value, "in the given config") for key, value in config.items()}, None
    config_file, overrides = split_cli(list(argv or []))
    merged: Sources = {}
    if config_file is not None:
        for key, value in read_config_file(config_file).items():
            merged[str(key)] = (value, f"in {config_file}")
    for key, value in overrides.items():
        merged[key] = (value, "on the command line")
    return merged, config_file


def _is_null(value: Any, can_be_text: bool) -> bool:
    # "none" is a real value of some string fields (report_to: none), so it only means None where the
    # field cannot hold a string.
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    text = value.strip().lower()
    return text in ("null", "~", "") or (text == "none" and not can_be_text)


def _coerce_list(value: Any, item_type: Any, key: str, origin: str) -> list[Any] | None:
    """A YAML list, or "a,b", "a, b", "a,b," -> [a, b]; an empty value -> None."""
    if isinstance(value, RepeatedFlag):
        raw = [part for item in value for part in str(item).split(",")]
    elif isinstance(value, (list, tuple)):
        raw = list(value)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        raw = str(value).split(",")
    else:
        raise ConfigError(f"{key}: expected a list or comma-separated items, got {value!r} ({origin}).")
    items = []
    for item in raw:
        if isinstance(item, (list, tuple, dict)):
            raise ConfigError(f"{key}: items must be single values, got {item!r} ({origin}). Write `{key}: [a, b]`.")
        if isinstance(item, str):
            item = item.strip()
            if not item:
                continue  # "a,,b" and a trailing comma
        items.append(coerce(item, item_type, key, origin))
    return items or None


def coerce(value: Any, annotation: Any, key: str, origin: str) -> Any:
    """Convert a YAML value or command-line string to the field's annotated type, or raise ConfigError."""
    kind = typing.get_origin(annotation)
    if kind in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if _is_null(value, can_be_text=str in members):
            return None
        if len(members) == 1 and typing.get_origin(members[0]) is list:  # an optional list: empty means unset
            return _coerce_list(value, (typing.get_args(members[0]) or (str,))[0], key, origin)
        if len(members) == 1:
            return coerce(value, members[0], key, origin)
        list_member = next((m for m in members if typing.get_origin(m) is list), None)
        if list_member is not None and (isinstance(value, (list, tuple)) or (isinstance(value, str) and "," in value)):
            return coerce(value, list_member, key, origin)  # transformers' report_to: wandb,tensorboard
        return value
    if kind is list:
        (item_type,) = typing.get_args(annotation) or (str,)
        items = _coerce_list(value, item_type, key, origin)
        if items is None:
            raise ConfigError(f"{key}: give at least one item ({origin}), e.g. `{key}: a,b` or `{key}: [a, b]`.")
        return items
    if kind is Literal:
        for choice in typing.get_args(annotation):
            if value == choice or str(value) == str(choice):
                return choice
        valid = ", ".join(str(choice) for choice in typing.get_args(annotation))
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
            return float(value) if annotation is float else int(str(value).strip())
        except ValueError:
            kind_name = "an integer" if annotation is int else "a number"
            raise ConfigError(f"{key}: expected {kind_name}, got {value!r} ({origin}).") from None
    if annotation is str:
        return value if isinstance(value, str) else str(value)
    return value


def suggest(key: str, valid: list[str], command: str) -> str:
    """The sentence after "`key` is not an argument.": the new name, close matches, or where to look."""
    if key in RENAMED_KEYS:
        return f" In transformers 5 this is `{RENAMED_KEYS[key]}`."
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
    if close:
        return " Did you mean " + " or ".join(f"`{name}`" for name in close) + "?"
    return f" Run `llmtuner {command} --help` for every valid key."


def assign_to_groups(
    sources: Sources, groups: tuple[type, ...], command: str, refused: dict[str, str] | None = None,
    passthrough: frozenset[str] = frozenset(),
) -> tuple[dict[type, dict[str, Any]], dict[str, tuple[Any, str]]]:
    """(typed values per dataclass, untyped passthrough values) for a command that takes `groups`.

    `refused` maps keys that exist for other commands (e.g. training's `dataset` in eval) to what to use
    instead; `passthrough` names keys owned by another library (transformers' training arguments), kept
    raw with their origin. Every unknown key is reported at once, with the closest valid names.
    """
    hints = {cls: typing.get_type_hints(cls) for cls in groups}
    owner = {name: cls for cls in groups for name in hints[cls]}
    refused = refused or {}
    problems = []
    for key, (_, origin) in sources.items():
        if key in refused:
            problems.append(f"`{key}` ({origin}) is not an argument of `llmtuner {command}`. {refused[key]}")
        elif key not in owner and key not in passthrough:
            valid = sorted(set(owner) | passthrough)
            problems.append(f"`{key}` ({origin}) is not an argument of `llmtuner {command}`.{suggest(key, valid, command)}")
    if problems:
        raise ConfigError("Unknown config key" + ("s" if len(problems) > 1 else "") + ":\n  " + "\n  ".join(problems))
    values: dict[type, dict[str, Any]] = {cls: {} for cls in groups}
    rest: dict[str, tuple[Any, str]] = {}
    repeatable = {item.name for cls in groups for item in dataclasses.fields(cls) if item.metadata.get("repeatable")}
    for key, (value, origin) in sources.items():
        if isinstance(value, RepeatedFlag) and key not in repeatable:
            value = value[-1]
        if key in owner:
            values[owner[key]][key] = coerce(value, hints[owner[key]][key], key, origin)
        else:
            rest[key] = (value, origin)
    return values, rest


def annotation_name(annotation: Any) -> str:
    """How `--help` and the config reference show a type: int, {a,b}, list[str] | None."""
    if typing.get_origin(annotation) is Literal:
        return "{" + ",".join(str(choice) for choice in typing.get_args(annotation)) + "}"
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else None
    return text or str(annotation).replace("typing.", "")


def default_text(item: dataclasses.Field) -> str:
    if item.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return repr(item.default_factory())  # type: ignore[misc]
    return repr(item.default)


def help_line(name: str, annotation: str, default: str, help_text: str) -> str:
    return f"  --{name} {annotation} (default: {default})\n      {help_text}"


def format_groups_help(header: list[str], groups: tuple[type, ...], hidden: tuple[str, ...] = ()) -> str:
    """`--help` text: the header lines, then every field of every group (minus `hidden`) with its help."""
    lines = list(header)
    for cls in groups:
        lines += ["", f"{cls.__name__}:"]
        hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):
            if item.name not in hidden:
                help_text = item.metadata.get("help", "")
                lines.append(help_line(item.name, annotation_name(hints[item.name]), default_text(item), help_text))
    return "\n".join(lines)
