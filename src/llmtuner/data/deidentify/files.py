"""`llmtuner deidentify INPUT OUTPUT`: a scrubbed copy of a file, for sharing or review.

.txt is one record per line and keeps its line count (and line endings); .json (one value), .jsonl (one
value per line) and .csv have every string scrubbed, and every integer too (a phone number stored as a
number would otherwise pass). A JSON key or CSV column name is the label the value stands under, so
{"电话": "62345678"} is scrubbed as a labelled landline; keys themselves are kept.

What comes back is counts per kind, never text: the input is patients' records, and so is every error
message's subject, which names the file and line and the fix, not the content. The output is written
atomically (extras.files): a failed run leaves no half-scrubbed file behind.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...extras.errors import DataError, UserError
from ...extras.files import write_json, write_jsonl, write_text
from .engine import REPLACEMENTS, Pseudonyms, deidentify_text

FORMATS = (".txt", ".json", ".jsonl", ".csv")


@dataclass
class ScrubReport:
    records: int = 0
    counts: Counter = field(default_factory=Counter)

    def format(self, source: Path, target: Path) -> str:
        total = sum(self.counts.values())
        lines = [f"{source} -> {target}: {self.records} records, {total} identifiers replaced"]
        lines += [f"  {kind:14s}{self.counts[kind]}" for kind in REPLACEMENTS if self.counts[kind]]
        return "\n".join(lines)


class _Scrubber:
    def __init__(self, consistent: bool) -> None:
        self.consistent = consistent
        self.report = ScrubReport()

    def record(self) -> Pseudonyms | None:
        """Start a record: the same person gets the same placeholder within it, with ``consistent``."""
        self.report.records += 1
        return Pseudonyms() if self.consistent else None

    def text(self, text: str, pseudonyms: Pseudonyms | None, label: str = "") -> str:
        scrubbed, counts = deidentify_text(text, pseudonyms, label)
        self.report.counts.update(counts)
        return scrubbed

    def value(self, value: Any, pseudonyms: Pseudonyms | None, label: str = "") -> Any:
        if isinstance(value, str):
            return self.text(value, pseudonyms, label)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, dict):
                return {key: self.value(item, pseudonyms, str(key)) for key, item in value.items()}
            if isinstance(value, list):
                return [self.value(item, pseudonyms, label) for item in value]
            return value
        scrubbed = self.text(str(value), pseudonyms, label)
        return value if scrubbed == str(value) else scrubbed  # 13812345678 stored as a number


def check_paths(source: Path, target: Path, overwrite: bool) -> None:
    """Every refusal before any work: missing input, unknown format, output == input, existing output."""
    if not source.is_file():
        raise UserError(f"{source}: no such file. Give the file to scrub as INPUT.")
    if source.suffix.lower() not in FORMATS:
        raise UserError(f"{source}: unsupported format {source.suffix or '(no extension)'!r}; INPUT must be one of "
                        f"{', '.join(FORMATS)} (.txt is one record per line).")
    if target.suffix.lower() != source.suffix.lower():
        raise UserError(f"{target}: OUTPUT must have the extension of INPUT ({source.suffix}); it is written in the same format.")
    if target.exists() and (target.resolve() == source.resolve() or target.samefile(source)):
        raise UserError(f"{target} is INPUT itself; write the scrubbed copy to another file and keep the original.")
    if target.is_dir():
        raise UserError(f"{target} is a folder; OUTPUT must be a file path.")
    if target.exists() and not overwrite:
        raise UserError(f"{target} exists; pass --overwrite to replace it, or choose another OUTPUT.")
    if not target.parent.is_dir():
        raise UserError(f"{target.parent}: no such folder for OUTPUT; create it first.")


def _read_text(source: Path) -> str:
    data = source.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(f"{source}:{line}: not UTF-8 text (byte {error.start + 1} of the file). Convert the file to UTF-8 "
                        f"(e.g. iconv -f GB18030 -t UTF-8).") from None


def _json_problem(error: json.JSONDecodeError) -> str:
    return f"not valid JSON ({error.msg}, column {error.colno})"  # the message and column, never the text


def scrub_file(source: str | Path, target: str | Path, overwrite: bool = False, consistent: bool = False) -> ScrubReport:
    """Write a scrubbed copy of ``source`` to ``target`` (same format) and return the counts."""
    source, target = Path(source), Path(target)
    check_paths(source, target, overwrite)
    text = _read_text(source)
    scrubber = _Scrubber(consistent)
    suffix = source.suffix.lower()
    if suffix == ".txt":
        lines = text.split("\n")
        write_text(target, "\n".join(scrubber.text(line, scrubber.record()) for line in lines))
        scrubber.report.records -= lines[-1] == ""  # the empty string after a final newline is not a record
    elif suffix == ".jsonl":
        records = []
        for number, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{source}:{number}: {_json_problem(error)}. Each line must be one JSON value; fix or "
                                f"remove the line.") from None
            records.append(scrubber.value(value, scrubber.record()))
        write_jsonl(target, records)
    elif suffix == ".json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"{source}:{error.lineno}: {_json_problem(error)}. The file must hold one JSON value (a list "
                            f"of records, or an object); use .jsonl for one record per line.") from None
        items = value if isinstance(value, list) else [value]
        scrubbed = [scrubber.value(item, scrubber.record()) for item in items]
        write_json(target, scrubbed if isinstance(value, list) else scrubbed[0])
    else:
        write_text(target, _scrub_csv(source, text, scrubber))
    return scrubber.report


def _scrub_csv(source: Path, text: str, scrubber: _Scrubber) -> str:
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise DataError(f"{source}: not valid CSV ({error}). Check the quoting of the file.") from None
    header = rows[0] if rows else []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for index, row in enumerate(rows):
        pseudonyms = scrubber.record()
        # The header row is scrubbed too (a file without one must not leak its first record); the header's
        # names are the labels of the rows below it.
        labels = header if index else []
        writer.writerow([scrubber.text(cell, pseudonyms, labels[column] if column < len(labels) else "")
                         for column, cell in enumerate(row)])
    return out.getvalue()
