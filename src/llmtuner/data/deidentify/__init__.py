"""Scrub direct identifiers from clinical text (`deidentify: true`, `llmtuner deidentify`).

A safety net for data that should already be de-identified, not a replacement for a formal
de-identification process. The README (de-identification) lists the rules per kind and the recall and
false-positive rate measured on tests/data/deid_corpus.jsonl.
"""

from . import addresses, birth_dates, names, numbers  # noqa: F401 - each registers its detectors
from .engine import REPLACEMENTS, Pseudonyms, Span, deidentify_messages, deidentify_text, find_spans, fold
from .numbers import is_valid_id_number

# Part of the datasets cache key (data.loader): a changed scrubber re-runs instead of reusing old output.
DEIDENTIFY_VERSION = "2"

__all__ = ["DEIDENTIFY_VERSION", "REPLACEMENTS", "Pseudonyms", "Span", "deidentify_messages", "deidentify_text", "find_spans",
           "fold", "is_valid_id_number"]
