"""Every record of an upload checked through the project's converters (llmtuner.data.align for alpaca, sharegpt
and text, data.preference_align for pairs), and the de-identification report: identifiers found per kind by
llmtuner.data.deidentify, counted, never shown. Problems name the line and the field, never the record's text."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...data.align import FORMATS, row_status
from ...data.preprocess import KEPT
from ...data.registry import DatasetAttr
from ...extras.errors import DataError
from .detect import Detected, detect_format
from .records import check_file, columns_of, iter_records

MAX_PROBLEMS = 10


@dataclass
class Analysis:
    format: str
    entry: dict[str, Any]
    columns: list[str]
    num_samples: int = 0
    deidentification: dict[str, int] = field(default_factory=dict)
    records_with_identifiers: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in _texts(item)]
    return []


def _without_prefix(error: DataError) -> str:
    """The converter's message without its "Dataset 'x', sample N" (the caller names the line instead)."""
    return re.sub(r"^Dataset .*?, sample \d+(, |: )?", "", str(error))


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, (list, dict)) and not value)


def _chat_problem(row: dict[str, Any], attr: DatasetAttr, detected: Detected, index: int) -> str | None:
    if row_status(row, attr) != KEPT:
        column = attr.column("messages") if attr.formatting == "sharegpt" else attr.column("prompt")
        return f"no value in `{column}`"
    history = attr.column("history")
    if history and row.get(history) is not None:
        pairs = row[history]
        if not isinstance(pairs, list) or any(not isinstance(pair, (list, tuple)) or len(pair) != 2 for pair in pairs):
            return f"`{history}` must be a list of [question, answer] pairs"
    try:
        messages, _ = FORMATS[attr.formatting](row, attr, index)
    except DataError as error:
        return _without_prefix(error)
    if detected.format == "alpaca" and _empty(row.get(attr.column("response"))):
        return f"no answer in `{attr.column('response')}`"
    if detected.format == "sharegpt" and not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        return f"the conversation in `{attr.column('messages')}` has no assistant answer to learn"
    return None


def _pair_problem(row: dict[str, Any], attr: DatasetAttr, index: int, unpaired: bool) -> str | None:
    from ...data.preference_align import FIXES, align_pair, align_unpaired

    try:
        problem = (align_unpaired if unpaired else align_pair)(row, attr, index)["_problem"]
    except DataError as error:
        return _without_prefix(error)
    if not problem:
        return None
    column, _, reason = problem.partition(": ")
    return f"`{column}`: {FIXES.get(reason, reason)}"


def _mcq_problem(row: dict[str, Any], attr: DatasetAttr) -> str | None:
    for role in ("question", "options", "answer"):
        column = attr.columns.get(role, role)
        if _empty(row.get(column)):
            return f"no value in `{column}`"
    if not isinstance(row.get(attr.columns.get("options", "options")), (list, dict)):
        return "`options` must be a list (or an object of letter: option)"
    return None


def record_problem(row: dict[str, Any], attr: DatasetAttr, detected: Detected, index: int) -> str | None:
    if detected.format in ("preference", "kto"):
        return _pair_problem(row, attr, index, unpaired=detected.format == "kto")
    if detected.format == "mcq":
        return _mcq_problem(row, attr)
    return _chat_problem(row, attr, detected, index)


def analyse(path: Path, file_type: str, name: str, label: str) -> Analysis:
    """Detect the format and check every record of `path` (the upload `label`); raise DataError on a file-level
    problem, collect up to MAX_PROBLEMS record problems in `problems`."""
    from ...data.deidentify import find_spans

    check_file(path, file_type, label)
    columns = columns_of(path, file_type)
    first = next((record for _, record in iter_records(path, file_type)), None)
    if first is None:
        raise DataError(f"{label} holds no records.")
    detected = detect_format(columns, first, file_type)
    attr = detected.attr(name, str(path))
    analysis = Analysis(format=detected.format, entry=detected.entry, columns=columns)
    found: Counter[str] = Counter()
    for index, (where, record) in enumerate(iter_records(path, file_type)):
        analysis.num_samples += 1
        if not isinstance(record, dict):
            analysis.problems.append((where, f"a {type(record).__name__}, not an object"))
        elif (problem := record_problem(record, attr, detected, index)) is not None:
            analysis.problems.append((where, problem))
        if len(analysis.problems) >= MAX_PROBLEMS:
            break
        kinds = Counter(span.kind for text in _texts(record) for span in find_spans(text))
        if kinds:
            analysis.records_with_identifiers += 1
            found.update(kinds)
    analysis.deidentification = dict(sorted(found.items()))
    return analysis
