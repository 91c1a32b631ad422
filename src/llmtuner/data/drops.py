"""Samples the data path leaves out: counted per dataset and reason, reported at WARNING, or refused.

Reports name datasets, reasons, counts and a few sample indices (0-based, in the order the dataset was read,
after `num_samples` / `max_samples`), never sample text: medical data must not end up in logs. With
`strict_data: true` any drop is a DataError instead, so a run never trains on less than the user thinks.
"""

from dataclasses import dataclass, field
from typing import Any

from ..extras.errors import DataError
from ..extras.logging import get_logger
from .preprocess import DROP_REASONS, KEPT

logger = get_logger(__name__)

LOAD_REASONS = {
    "missing_field": "no value in the column the format reads: an empty cell, or a record without that key",
    "other_format": "a sample of the other format: the data holds both alpaca and sharegpt columns",
}
REASONS = {**DROP_REASONS, **LOAD_REASONS}
FIXES = {
    "no_response": "end every conversation with an assistant answer",
    "empty_response": "fill in or remove the empty answers",
    "nothing_to_learn": "raise cutoff_len or shorten those prompts",
    "missing_field": "fill in or remove those samples",
    "other_format": "give each format its own file and dataset_info.json entry",
}
SHOWN = 5
"""Sample indices named per dataset and reason."""
STRICT_OFF = "set strict_data: false to drop them with a warning"


@dataclass
class Drops:
    """Dropped samples of one split or dataset: (dataset, reason) -> count and the first few sample indices."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    samples: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def add(self, dataset: str, reason: str, index: int) -> None:
        key = (dataset, reason)
        self.counts[key] = self.counts.get(key, 0) + 1
        shown = self.samples.setdefault(key, [])
        if len(shown) < SHOWN:
            shown.append(index)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_reason(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for (_, reason), count in self.counts.items():
            result[reason] = result.get(reason, 0) + count
        return result

    def describe(self) -> str:
        """dataset 'a': 2 empty_response (the answer is empty; samples 4, 17), 1 ...; dataset 'b': ..."""
        datasets: dict[str, list[str]] = {}
        for (dataset, reason), count in sorted(self.counts.items()):
            shown = ", ".join(map(str, self.samples[(dataset, reason)])) + (", ..." if count > SHOWN else "")
            datasets.setdefault(dataset, []).append(
                f"{count} {reason} ({REASONS.get(reason, reason)}; sample{'s' if count > 1 else ''} {shown})")
        return "; ".join(f"dataset {dataset!r}: {', '.join(parts)}" for dataset, parts in datasets.items())


def collect(statuses: list[str], table: Any) -> Drops:
    """Drops of a tokenised split: `statuses` per row (KEPT or a reason) and the arrow `table` holding each row's
    `_origin` (dataset name) and `_row` (index in that dataset)."""
    drops = Drops()
    bad = [position for position, status in enumerate(statuses) if status != KEPT]
    if bad:
        origins, rows = (table.column(column).take(bad).to_pylist() for column in ("_origin", "_row"))
        for position, origin, row in zip(bad, origins, rows):
            drops.add(origin, statuses[position], row)
    return drops


def report(drops: Drops, where: str, total: int, strict: bool) -> None:
    """WARNING with counts per dataset and reason; with strict_data a DataError naming the fix."""
    if not drops.counts:
        return
    text = f"{where}: {drops.total} of {total} samples dropped: {drops.describe()}"
    if strict:
        fixes = "; ".join(dict.fromkeys(FIXES.get(reason, "fix those samples") for _, reason in sorted(drops.counts)))
        raise DataError(f"{text}. strict_data is on, so nothing is dropped silently: clean the data ({fixes}; sample "
                        f"indices count from 0 in file order), or {STRICT_OFF}.")
    logger.warning("%s. They are left out; set strict_data: true to stop on dropped samples instead.", text)


class StreamingGuard:
    """`datasets` filter for streamed data, whose drops cannot be counted in advance: the first drop of each
    dataset and reason is logged (later ones are not), and with strict_data it stops the run."""

    def __init__(self, where: str, strict: bool):
        self.where, self.strict, self.seen = where, strict, set()

    def __call__(self, status: str, origin: str, row: int) -> bool:
        if status == KEPT:
            return True
        if (origin, status) not in self.seen:
            self.seen.add((origin, status))
            drops = Drops()
            drops.add(origin, status, row)
            text = f"{self.where} (streamed, so not counted in advance): dropped {drops.describe()}"
            if self.strict:
                raise DataError(f"{text}. strict_data is on: clean the data ({FIXES.get(status, 'fix it')}), or {STRICT_OFF}.")
            logger.warning("%s. Later samples dropped for the same reason are not logged.", text)
        return False
