"""Convert alpaca and sharegpt rows to one message schema.

Every training sample becomes `_messages`: a list of {"role", "content"} that alternates user /
assistant, and `_system`: the sample's own system prompt or None (None = the template's default).
Formats are a registry: a new one is one converter function and one `FORMATS` entry.
"""

from collections.abc import Callable
from typing import Any

from ..extras.errors import DataError
from ..extras.logging import get_logger
from .registry import DatasetAttr

Converter = Callable[[dict[str, Any], DatasetAttr, int], tuple[list[dict[str, str]], str | None]]

logger = get_logger(__name__)


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


def check_columns(attr: DatasetAttr, column_names: list[str] | None, where: str) -> None:
    """A mapped column the data lacks is the commonest registry mistake: name it and the fix."""
    if column_names is None:
        return
    missing = [column for column in required_columns(attr) if column not in column_names]
    if missing:
        raise DataError(
            f"Dataset {attr.name!r} ({where}) has no column {', '.join(repr(c) for c in missing)} for its "
            f"{attr.formatting} format; its columns are {sorted(column_names)}. Map them in dataset_info.json, e.g. "
            f'"columns": {{"prompt": "<your question column>", "response": "<your answer column>"}}.'
        )
    if attr.formatting == "alpaca":  # LLaMA-Factory maps these only when asked; say so instead of dropping quietly
        unmapped = [role for role in ("system", "history") if attr.column(role) is None and role in column_names]
        if unmapped:
            mapping = ", ".join(f'"{role}": "{role}"' for role in unmapped)
            logger.warning("Dataset %r (%s) has %s column(s) that its dataset_info.json entry does not map, so they "
                           "are not used. To train on them add \"columns\": {%s} to the entry.",
                           attr.name, where, " and ".join(unmapped), mapping)


def align_batch(
    batch: dict[str, list[Any]], indices: list[int], attr: DatasetAttr, deidentify: bool = False, deidentify_version: str = ""
) -> dict[str, list[Any]]:
    """datasets.map function (batched): rows -> `_messages`, `_system` (and `_pii` counts when scrubbing).

    ``deidentify_version`` is not used here: it is in the map arguments so that the datasets cache key changes
    with the scrubber (data.deidentify.DEIDENTIFY_VERSION).
    """
    convert = FORMATS[attr.formatting]
    out: dict[str, list[Any]] = {"_messages": [], "_system": []}
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
    return out
