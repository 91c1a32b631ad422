"""Score a scrubber on an annotated corpus: recall per kind, and how many near-miss sentences it changes.

The test (tests/test_deidentify.py), scripts/benchmark.py and the library comparison quoted in the README
all use this one scorer, so the figures they print are the same figures. A corpus is JSON lines with
``text`` and ``identifiers`` ([{"kind", "value"}]; empty for a near-miss sentence).

An identifier counts as removed only when nothing recognisable of it is left: not the value, and not a
piece of it either (half a phone number, the digits after a removed area code, a given name without its
surname). A piece is a stretch of at least ``PIECE[kind]`` characters of the value, separators ignored,
that the output contains and that the input does not contain anywhere outside the value.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine import fold

_SEPARATORS = re.compile(r"[\s\-–—.()（）+/·]")
PIECE = {"name": 2}  # other kinds: 4 characters
DEFAULT_PIECE = 4


def _plain(text: str, kind: str) -> str:
    text = fold(text)
    return text if kind == "name" else _SEPARATORS.sub("", text)


def leaked(kind: str, value: str, source: str, output: str) -> bool:
    """True when ``output`` still holds ``value`` or a piece of it that ``source`` has nowhere else."""
    if fold(value) in fold(output):
        return True
    plain_value, plain_output = _plain(value, kind), _plain(output, kind)
    rest = _plain(source.replace(value, "\0"), kind)
    size = PIECE.get(kind, DEFAULT_PIECE)
    for length in range(min(size, len(plain_value)), len(plain_value) + 1):
        for start in range(len(plain_value) - length + 1):
            piece = plain_value[start : start + length]
            if piece in plain_output and piece not in rest:
                return True
    return False


@dataclass
class CorpusScore:
    planted: Counter = field(default_factory=Counter)
    removed: Counter = field(default_factory=Counter)
    near_misses: int = 0
    changed: int = 0
    missed: list[tuple[int, str, str]] = field(default_factory=list)  # (line, kind, value)
    changed_lines: list[int] = field(default_factory=list)

    def recall(self, kind: str) -> float:
        return self.removed[kind] / self.planted[kind] if self.planted[kind] else 1.0

    @property
    def false_positive_rate(self) -> float:
        return self.changed / self.near_misses if self.near_misses else 0.0

    def rows(self) -> list[tuple[str, str]]:
        """(figure, value) rows: recall per kind, then the near-miss false-positive rate."""
        rows = [(f"recall {kind}", f"{self.removed[kind]}/{self.planted[kind]} = {self.recall(kind):.1%}")
                for kind in sorted(self.planted)]
        rows.append(("near-miss sentences changed", f"{self.changed}/{self.near_misses} = {self.false_positive_rate:.1%}"))
        return rows

    def format(self) -> str:
        return "\n".join(f"{figure:32s}{value}" for figure, value in self.rows())


def load_corpus(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def score_corpus(records: Iterable[dict[str, Any]], scrub: Callable[[str], str]) -> CorpusScore:
    """Run ``scrub`` on every sentence and count what it removed and what it changed that it should not."""
    score = CorpusScore()
    for line, record in enumerate(records, 1):
        source = record["text"]
        output = scrub(source)
        if not record["identifiers"]:
            score.near_misses += 1
            if output != source:
                score.changed += 1
                score.changed_lines.append(line)
            continue
        for identifier in record["identifiers"]:
            kind, value = identifier["kind"], identifier["value"]
            score.planted[kind] += 1
            if leaked(kind, value, source, output):
                score.missed.append((line, kind, value))
            else:
                score.removed[kind] += 1
    return score
