"""The records of an uploaded file, each with where it is (line N, row N), read as `datasets` will read them.

JSON (an array, or one object per line), JSONL, CSV (a header, then one record per row; an empty cell is no
value, as pandas reads it), TXT (one document per line, column `text`) and Parquet. File-level problems (not
UTF-8, a line that is not JSON, a field whose type changes, a row with the wrong number of fields) are found by
the loader's own diagnostics (llmtuner.data.loader, .encoding), which name the line and never quote it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...data.encoding import check_encoding
from ...data.loader import diagnose_csv, diagnose_json
from ...extras.errors import DataError

FILE_TYPES = {".json": "json", ".jsonl": "jsonl", ".csv": "csv", ".txt": "text", ".parquet": "parquet"}

Record = tuple[str, dict[str, Any]]
"""(where, record): where is "line 3", "row 7" ..."""


def check_file(path: Path, file_type: str, label: str) -> None:
    """File-level problems, as a DataError naming the upload (`label`) instead of the stored path."""
    try:
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty.")
        if file_type in ("json", "jsonl", "csv", "text"):
            check_encoding(path, label, None)
        if file_type in ("json", "jsonl"):
            diagnose_json([str(path)])
        elif file_type == "csv":
            diagnose_csv([str(path)])
        elif file_type == "parquet":
            import pyarrow.parquet as pq

            try:
                pq.ParquetFile(path)
            except Exception as error:
                raise DataError(f"{path}: not a readable Parquet file ({type(error).__name__}).") from None
    except DataError as error:
        raise DataError(str(error).replace(str(path), label)) from None


def columns_of(path: Path, file_type: str) -> list[str]:
    if file_type == "text":
        return ["text"]
    if file_type == "csv":
        with open(path, encoding="utf-8", newline="") as handle:
            return next(csv.reader(handle), [])
    if file_type == "parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    return list(dict.fromkeys(key for _, record in iter_records(path, file_type) for key in record))


def iter_records(path: Path, file_type: str) -> Iterator[Record]:
    if file_type == "text":
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                yield f"line {number}", {"text": line.rstrip("\n").rstrip("\r")}
    elif file_type == "csv":
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                yield f"line {reader.line_num}", {key: (value if value != "" else None) for key, value in row.items()}
    elif file_type == "parquet":
        import pyarrow.parquet as pq

        number = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            for record in batch.to_pylist():
                number += 1
                yield f"row {number}", record
    else:
        yield from _json_records(path)


def _json_records(path: Path) -> Iterator[Record]:
    text = path.read_text(encoding="utf-8")
    start = len(text) - len(text.lstrip())
    if not text.startswith("[", start):
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield f"line {number}", json.loads(line)
        return
    decoder, position, line, counted = json.JSONDecoder(), start + 1, 1, 0
    index = 0
    while True:
        position = _skip_space(text, position)
        if position >= len(text) or text[position] == "]":
            return
        line += text.count("\n", counted, position)
        counted = position
        record, position = decoder.raw_decode(text, position)
        yield f"line {line} (record {index})", record
        index += 1
        position = _skip_space(text, position)
        if position < len(text) and text[position] == ",":
            position += 1


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position
