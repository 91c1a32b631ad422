"""A job's log file: the last lines, and a follow for the live stream, each with a level filter and a search.

Lines are read from the file the job's process writes (never from a pipe), by byte offset: an offset names a line
for good, so a stream that reconnects (SSE `Last-Event-ID`) goes on where it stopped. Levels come from the
project's log format (`[12:00:00 WARNING llmtuner.x] ...`); a traceback is ERROR, Python warnings are WARNING,
indented lines keep the level of the line they continue, and anything else is INFO. A progress bar's carriage
returns are read as a terminal shows them: the last state of the line.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_PROJECT = re.compile(r"^\[[\d:]{8} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
_OTHER = re.compile(r"^\[?(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)[\]|: ]")
_PY_WARNING = re.compile(r"^\S+:\d+: \w*Warning: ")
_EXCEPTION = re.compile(r"^[\w.]+(Error|Exception|Interrupt|Exit)(: |$)")
MAX_SCAN = 64 * 2**20
"""How far back from the end a tail looks for matching lines."""


@dataclass(frozen=True)
class LogLine:
    offset: int
    """Where the line starts in the file."""
    end: int
    """Where the next line starts: a stream resumed from here goes on after this line."""
    level: str
    text: str


class _Classifier:
    def __init__(self) -> None:
        self.previous = "INFO"
        self.in_traceback = False

    def __call__(self, text: str) -> str:
        if match := _PROJECT.match(text) or _OTHER.match(text):
            level = "WARNING" if match.group(1) == "WARN" else match.group(1)
            self.in_traceback = False
        elif text.startswith("Traceback (most recent call last)"):
            level, self.in_traceback = "ERROR", True
        elif text[:1] in (" ", "\t") or (self.in_traceback and not text.strip()):
            level = self.previous
        elif self.in_traceback or _EXCEPTION.match(text):
            level, self.in_traceback = "ERROR", False
        elif _PY_WARNING.match(text):
            level = "WARNING"
        else:
            level = "INFO"
        self.previous = level
        return level


def _decode(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").rstrip("\r")
    return text.rsplit("\r", 1)[-1]


def parse(data: bytes, base: int, classify: _Classifier | None = None) -> list[LogLine]:
    """The complete lines of `data` (which starts at file offset `base`), classified."""
    classify = classify or _Classifier()
    lines, position = [], 0
    while (end := data.find(b"\n", position)) != -1:
        text = _decode(data[position:end])
        lines.append(LogLine(base + position, base + end + 1, classify(text), text))
        position = end + 1
    return lines


def matcher(level: str | None, search: str | None) -> Callable[[LogLine], bool]:
    floor = LEVELS.index(level) if level else 0
    needle = search.lower() if search else None
    return lambda line: LEVELS.index(line.level) >= floor and (needle is None or needle in line.text.lower())


def tail(path: Path, count: int, level: str | None = None, search: str | None = None) -> tuple[list[LogLine], int]:
    """The last `count` matching lines and the file size they were read up to (where a follow goes on)."""
    if not path.is_file():
        return [], 0
    keep = matcher(level, search)
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        window = 64 * 1024
        while True:
            start = max(0, size - window)
            handle.seek(start)
            data = handle.read(size - start)
            cut = 0 if start == 0 else data.find(b"\n") + 1  # the first line may be cut: skip it
            end = data.rfind(b"\n") + 1  # and the last, still being written
            lines = [line for line in parse(data[cut:end], start + cut) if keep(line)]
            if len(lines) >= count or start == 0 or window >= MAX_SCAN:
                return (lines[-count:] if count else []), start + end
            window *= 4


async def follow(path: Path, offset: int, level: str | None, search: str | None,
                 finished: Callable[[], Awaitable[bool]], poll_s: float) -> AsyncIterator[LogLine]:
    """Matching lines from `offset` on, as they are written; ends when `finished()` and the file is read."""
    keep = matcher(level, search)
    classify = _Classifier()
    pending = b""
    while True:
        data = _read_from(path, offset + len(pending))
        if data:
            data = pending + data
            end = data.rfind(b"\n") + 1
            for line in parse(data[:end], offset, classify):
                if keep(line):
                    yield line
            offset += end
            pending = data[end:]
            continue
        if await finished():
            if pending:
                text = _decode(pending)
                line = LogLine(offset, offset + len(pending), classify(text), text)
                if keep(line):
                    yield line
            return
        await asyncio.sleep(poll_s)


def _read_from(path: Path, offset: int, limit: int = 2**20) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read(limit)
    except FileNotFoundError:
        return b""


def last_lines_text(path: Path, count: int = 30) -> str:
    """The log's last lines as one text, for a failed job's error."""
    lines, _ = tail(path, count)
    return "\n".join(line.text for line in lines)
