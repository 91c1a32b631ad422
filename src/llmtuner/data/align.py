"""Convert alpaca and sharegpt rows to one message schema.

Every training sample becomes `_messages`: a list of {"role", "content"} that alternates user /
assistant, and `_system`: the sample's own system prompt or None (None = the template's default).
Formats are a registry: a new one is one converter function and one `FORMATS` entry.
"""

from collections.abc import Callable
from typing import Any

from ..extras.errors import DataError
from ..extras.logging import get_logger
from .preprocess import KEPT
from .registry import DEFAULT_COLUMNS, DatasetAttr

Converter = Callable[[dict[str, Any], DatasetAttr, int], tuple[list[dict[str, str]], str | None]]

logger = get_logger(__name__)
DEFAULT_ROLES = {formatting: tuple(columns) for formatting, columns in DEFAULT_COLUMNS.items()}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def convert_alpaca(row: dict[str, Any], attr: DatasetAttr, index: int) -> tuple[list[dict[str, str]], str | None]:
    messages: list[dict[str, str]] = []
    history_column = attr.column("history")
    for turn, pair in enumerate(row.get(history_column) or [] if history_column else []):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise DataError(
                f"Dataset {attr.name!r}, sample {index}: history entry {turn} is {pair!r}; each history entry must be "
                "a [question, answer] pair. Fix that sample."
            )
        messages += [{"role": "user", "content": _text(pair[0])}, {"role": "assistant", "content": _text(pair[1])}]
    parts = [_text(row.get(attr.column("prompt"))), _text(row.get(attr.column("query"))) if attr.column("query") else ""]
    messages.append({"role": "user", "content": "\n".join(part for part in parts if part)})
    response_column = attr.column("response")
    if response_column and response_column in row:
        messages.append({"role": "assistant", "content": _text(row[response_column])})
    system_column = attr.column("system")
    system = _text(row.get(system_column)) if system_column else ""
    return messages, system or None


def convert_sharegpt(row: dict[str, Any], attr: DatasetAttr, index: int) -> tuple[list[dict[str, str]], str | None]:
    roles = {attr.tag("user_tag"): "user", attr.tag("assistant_tag"): "assistant", attr.tag("system_tag"): "system"}
    role_tag, content_tag = attr.tag("role_tag"), attr.tag("content_tag")
    turns = row.get(attr.column("messages")) or []
    if not isinstance(turns, (list, tuple)):
        raise DataError(f"Dataset {attr.name!r}, sample {index}: column {attr.column('messages')!r} holds "
                        f"{type(turns).__name__}, not a list of turns (objects with {attr.tag('role_tag')!r} and "
                        f"{attr.tag('content_tag')!r}). Fix the file, or check `formatting` and `columns` in dataset_info.json.")
    system_column = attr.column("system")
    system = _text(row.get(system_column)) if system_column else ""
    messages: list[dict[str, str]] = []
    for turn, item in enumerate(turns):
        raw_role = item.get(role_tag) if isinstance(item, dict) else None
        role = roles.get(raw_role)
        if role is None and raw_role in (attr.tag("function_tag"), attr.tag("observation_tag")):
            raise DataError(
                f"Dataset {attr.name!r}, sample {index}, turn {turn}: a {raw_role!r} turn is tool-calling data "
                "(LLaMA-Factory's function_call/observation turns), which this framework does not train on: its "
                "templates have no tool format. Remove the tool-calling samples or that dataset from `dataset`."
            )
        if role is None:
            raise DataError(
                f"Dataset {attr.name!r}, sample {index}, turn {turn}: role {raw_role!r} is not one of the tags "
                f"{sorted(roles)} (role key {role_tag!r}). Set `tags` for this dataset in dataset_info.json "
                "(role_tag, content_tag, user_tag, assistant_tag, system_tag), or fix the sample."
            )
        content = _text(item.get(content_tag))
        if role == "system":
            if turn != 0:
                raise DataError(
                    f"Dataset {attr.name!r}, sample {index}, turn {turn}: a system turn may only come first. "
                    "Move it to the start of the conversation or remove it."
                )
            system = content
            continue
        expected = "user" if len(messages) % 2 == 0 else "assistant"
        if role != expected:
            raise DataError(
                f"Dataset {attr.name!r}, sample {index}, turn {turn}: found a {role} turn where a {expected} turn was "
                "expected. Turns must alternate user/assistant starting with user (with at most one system turn "
                "first). Fix or remove that sample."
            )
        messages.append({"role": role, "content": content})
    return messages, system or None


FORMATS: dict[str, Converter] = {"alpaca": convert_alpaca, "sharegpt": convert_sharegpt}


def required_columns(attr: DatasetAttr) -> list[str]:
    if attr.formatting == "sharegpt":
        return [attr.column("messages")]
    return [attr.column("prompt")]


OTHER_FORMAT_COLUMNS = {"alpaca": ("conversations", "messages"), "sharegpt": ("instruction",)}
"""Columns that mark a row of the other format, when a file mixes alpaca and sharegpt samples."""


ESSENTIAL_ROLES = {"alpaca": ("prompt", "response"), "sharegpt": ("messages",)}
"""Roles every sample needs: mapped to a column the data lacks, they fail (the answer only when mapped explicitly:
a text corpus has none). Other mapped roles the data lacks (query, system, history) are warned about, or fail with
strict_data: LLaMA-Factory registries often map `"query": "input"` for files without that column."""


def missing_columns(attr: DatasetAttr, column_names: list[str], mapped: bool = True) -> tuple[list, list]:
    """(essential, optional): (role, column) pairs the data lacks, of the format's required column and (`mapped`)
    of every column the dataset_info.json entry maps explicitly."""
    roles = ["messages"] if attr.formatting == "sharegpt" else ["prompt"]
    if mapped:
        roles += [role for role, column in attr.columns.items() if isinstance(column, str) and role not in roles
                  and role in DEFAULT_ROLES.get(attr.formatting, ())]
    essential: list[tuple[str, str]] = []
    optional: list[tuple[str, str]] = []
    for role in roles:
        if attr.column(role) not in column_names:
            (essential if role in ESSENTIAL_ROLES.get(attr.formatting, ()) else optional).append((role, attr.column(role)))
    return essential, optional


def check_columns(attr: DatasetAttr, column_names: list[str] | None, where: str, complete: bool = True,
                  strict: bool = False) -> None:
    """A mapped column the data lacks is the commonest registry mistake: name it, the columns there, and the fix.

    `complete`: `column_names` are the data's columns (not one streamed record's keys, which may omit optional
    fields), so the explicitly mapped columns are checked too. `strict` (strict_data): a missing optional column
    (query, system, history) fails too, instead of a warning.
    """
    if column_names is None:
        return
    essential, optional = missing_columns(attr, column_names, mapped=complete)
    missing = essential + optional if essential or strict else []
    if missing:
        named = ", ".join(f"{column!r} ({role})" for role, column in missing)
        explicit = [(role, column) for role, column in missing if role in attr.columns]
        if explicit:
            role = explicit[0][0]
            fix = (f'Correct the name in the entry\'s "columns" (names are case-sensitive), e.g. "columns": {{"{role}": '
                   f'"<one of the columns above>"}}, or rename the column in the file.')
        else:
            fix = ('Map them in dataset_info.json, e.g. "columns": {"prompt": "<your question column>", '
                   '"response": "<your answer column>"}.')
        raise DataError(
            f"Dataset {attr.name!r} ({where}) has no column {named} for its {attr.formatting} format; its columns "
            f"are {sorted(column_names)}. {fix}"
        )
    if optional:
        logger.warning("Dataset %r (%s): its dataset_info.json entry maps %s, but the file has no such column (its columns: "
                       "%s), so samples are read without it. Correct the name or remove the mapping; strict_data: true "
                       "makes this an error.", attr.name, where,
                       ", ".join(f"{role} to {column!r}" for role, column in optional), ", ".join(column_names))
    if attr.formatting == "alpaca":  # LLaMA-Factory maps these only when asked; say so instead of dropping quietly
        unmapped = [role for role in ("system", "history") if attr.column(role) is None and role in column_names]
        if unmapped:
            mapping = ", ".join(f'"{role}": "{role}"' for role in unmapped)
            logger.warning("Dataset %r (%s) has %s column(s) that its dataset_info.json entry does not map, so they "
                           "are not used. To train on them add \"columns\": {%s} to the entry.",
                           attr.name, where, " and ".join(unmapped), mapping)


def row_status(row: dict[str, Any], attr: DatasetAttr) -> str:
    """KEPT, or why the row cannot be a sample: no value where the format needs one (another format's row?)."""
    if all(row.get(column) is not None for column in required_columns(attr)):
        return KEPT
    others = OTHER_FORMAT_COLUMNS.get(attr.formatting, ())
    return "other_format" if any(row.get(column) is not None for column in others) else "missing_field"


def align_batch(
    batch: dict[str, list[Any]], indices: list[int], attr: DatasetAttr, deidentify: bool = False, deidentify_version: str = ""
) -> dict[str, list[Any]]:
    """datasets.map function (batched): rows -> `_messages`, `_system` (and `_pii` counts when scrubbing), plus
    `_origin` / `_row` (dataset name and index, for reports that never show text) and `_drop` (KEPT or a reason).

    ``deidentify_version`` is not used here: it is in the map arguments so that the datasets cache key changes
    with the scrubber (data.deidentify.DEIDENTIFY_VERSION).
    """
    convert = FORMATS[attr.formatting]
    out: dict[str, list[Any]] = {"_messages": [], "_system": [], "_origin": [], "_row": [], "_drop": []}
    if deidentify:
        from .deidentify import REPLACEMENTS, deidentify_messages, deidentify_text

        out["_pii"] = []
    keys = list(batch)
    for position, index in enumerate(indices):
        row = {key: batch[key][position] for key in keys}
        messages, system = convert(row, attr, index)
        if deidentify:
            messages, counts = deidentify_messages(messages)
            if system:
                system, system_counts = deidentify_text(system)
                counts.update(system_counts)
            out["_pii"].append({kind: int(counts.get(kind, 0)) for kind in REPLACEMENTS})
        out["_messages"].append(messages)
        out["_system"].append(system)
        out["_origin"].append(attr.name)
        out["_row"].append(index)
        out["_drop"].append(row_status(row, attr))
    return out
