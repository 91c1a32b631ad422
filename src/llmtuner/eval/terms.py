"""Medical terminology accuracy: which typed lexicon terms of the reference the answer uses.

Lexicon files are ``term<TAB>type`` lines (``#`` comments and blank lines skipped), the format of
data/medical_terms.txt and ../shared/data/medical_terms.txt. Only a TAB separates: terms may hold
spaces ("HBV DNA定量") and the same files feed ``model.vocab.read_terms``, which is TAB-only too.
Types outside TERM_TYPES ("medical", "general": untyped THUOCL words) are not reported, but they
stay in the matcher as word boundaries: longest match then keeps "人参" out of "人参皂苷" and "心烦"
out of "五心烦热" (on the shared medical_sft outputs 765 of 18,890 typed matches, 4%, sit inside such
a longer untyped word). A later file overrides an earlier file's type; an untyped line never
overrides a typed one.

Matching is leftmost-longest and non-overlapping ("小柴胡汤" is one formula, not the herb "柴胡"),
on text lower-cased with full-width letters and digits folded, so "ＣＴ" and "ct" find "CT". A term
that starts or ends with a Latin letter or digit must not touch another one ("CT" is not in "SPECT").

Engine: ahocorasick-rs (Rust Aho-Corasick, MatchKind.LeftmostLongest). 10,000 answers (shared
medical_sft outputs cycled, 1.75 M characters), the 7,709 typed terms of the 20k shared lexicon,
raw text, best of 3, one process:
  ahocorasick-rs            0.07 s  (152k answers/s)
  pure-Python dict trie     0.31 s  (32k/s)
  pyahocorasick iter_long   0.48 s  (21k/s)
  pure-Python max-length dictionary scan  0.90 s (11k/s)
  jieba + user dictionary   3.7 s   (2.7k/s), and wrong: its segmentation is not longest-match
  (2,682 of 10,000 answers differ, e.g. "肝病" and "检查" missed); the other four agree exactly.
TermLexicon.extract (normalisation, Latin edges, the 12,355 untyped boundary words) takes 0.13 s
(about 80k answers/s, 14 M chars/s). Re-measure with ``python scripts/benchmark.py --only terms``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..extras.constants import PROJECT_ROOT
from ..extras.errors import DataError
from ..extras.logging import get_logger

logger = get_logger(__name__)

TERM_TYPES = ("herb", "formula", "syndrome", "disease", "symptom", "drug", "exam", "treatment")
"""中药, 方剂, 中医证候, 疾病, 症状/体征, 西药, 检查/检验, 治法/治疗措施."""

DEFAULT_LEXICON = PROJECT_ROOT / "data" / "medical_terms.txt"

_WIDE = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_WIDE_TABLE = {code: code - 0xFEE0 for code in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))}


def normalize(text: str) -> str:
    """Lower-case, full-width letters/digits to ASCII (the form both terms and texts are matched in)."""
    text = text.lower()
    # str.translate is slow on CJK text; most answers have no full-width letter at all.
    return text.translate(_WIDE_TABLE) if _WIDE.search(text) else text


def _latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _inside_latin_word(text: str, start: int, end: int) -> bool:
    """A match whose Latin/digit edge touches another Latin letter or digit ("CT" in "SPECT", "CA125" in "CA1250")."""
    return bool((_latin(text[start]) and start and _latin(text[start - 1]))
                or (_latin(text[end - 1]) and end < len(text) and _latin(text[end])))


class TermLexicon:
    """Typed terms plus untyped boundary words, compiled into one leftmost-longest automaton."""

    def __init__(self, terms: dict[str, str], boundaries: Iterable[str] = ()):
        from ahocorasick_rs import AhoCorasick, MatchKind

        entries: dict[str, tuple[str, str | None]] = {normalize(word): (word, None) for word in boundaries if word}
        for term, kind in terms.items():
            if kind not in TERM_TYPES:
                raise ValueError(f"unknown term type {kind!r} for {term!r}; expected one of {', '.join(TERM_TYPES)}")
            entries[normalize(term)] = (term, kind)
        if not any(kind for _, kind in entries.values()):
            raise ValueError("a TermLexicon needs at least one typed term")
        self.terms = dict(terms)
        self._keys = list(entries)
        self._entries = list(entries.values())
        self._automaton = AhoCorasick(self._keys, matchkind=MatchKind.LeftmostLongest)

    @classmethod
    def load(cls, paths: str | Path | Sequence[str | Path], *, untyped_boundaries: bool = True) -> TermLexicon:
        """Read ``term<TAB>type`` files; later files override earlier types. See the module docstring."""
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        terms: dict[str, str] = {}
        untyped: set[str] = set()
        other: Counter = Counter()
        for path in map(Path, paths):
            kept, dropped = _read(path, terms, untyped)
            other += dropped
            by_type = ", ".join(f"{kind} {n}" for kind, n in sorted(dropped.items(), key=lambda item: (-item[1], item[0])))
            logger.info("%s: %d typed terms; %d of other types not reported%s", path, kept, sum(dropped.values()),
                        f" ({by_type})" if by_type else "")
        if not terms:
            found = f"only types {', '.join(sorted(other))}" if other else "no term lines"
            raise DataError(f"No typed terms in {', '.join(map(str, paths))} ({found}). The second column must be one of "
                            f"{', '.join(TERM_TYPES)}.")
        return cls(terms, untyped - terms.keys() if untyped_boundaries else ())

    def __len__(self) -> int:
        return len(self.terms)

    def spans(self, text: str) -> list[tuple[str, str, int, int]]:
        """(term, type, start, end) of every typed match; offsets index ``normalize(text)``."""
        norm = normalize(text)
        found = []
        for index, start, end in self._automaton.find_matches_as_indexes(norm):
            term, kind = self._entries[index]
            # An untyped word only keeps shorter typed terms from matching inside it.
            if kind is not None and not _inside_latin_word(norm, start, end):
                found.append((term, kind, start, end))
        return found

    def extract(self, text: str) -> list[tuple[str, str]]:
        """(term, type) pairs in text order, longest match first, non-overlapping; repeats kept."""
        return [(term, kind) for term, kind, _, _ in self.spans(text)]


def _read_text(path: Path) -> str:
    """A lexicon file's text, or a DataError naming the file (and line) and the fix."""
    if path.is_dir():
        raise DataError(f"Term lexicon {path} is a folder; give the `term<TAB>type` file(s) in it, comma-separated, "
                        f"e.g. {path / 'medical_terms.txt'}.")
    if not path.is_file():
        raise DataError(f"Term lexicon not found: {path}. Give existing `term<TAB>type` files, e.g. {DEFAULT_LEXICON}.")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"Term lexicon {path} could not be read ({error.strerror}). Check its permissions.") from None
    if b"\0" in raw[:8192]:
        raise DataError(f"Term lexicon {path} is a binary file (a spreadsheet?), not text. Save it as UTF-8 text with "
                        "one `term<TAB>type` line per term (in Excel: Save As \"Unicode Text\", then convert to UTF-8).")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte {error.start}). Convert the file, e.g. "
                        f"`iconv -f GB18030 -t UTF-8 {path} > {path.with_suffix('.utf8' + path.suffix)}`.") from None


def _format_hint(path: Path, line: str) -> str:
    """What a JSON or CSV file given as a lexicon should become."""
    stripped = line.lstrip()
    if path.suffix.lower() in (".json", ".jsonl") or stripped.startswith(("{", "[")):
        return (" This looks like JSON: a lexicon is a plain text file, one `term<TAB>type` line per term "
                "(convert it, e.g. with jq -r '.[] | \"\\(.term)\\t\\(.type)\"').")
    if path.suffix.lower() == ".csv" or "," in line:
        return (" This looks like CSV: separate the two columns with a TAB and drop the header "
                "(e.g. pandas `to_csv(path, sep='\\t', header=False, index=False)`).")
    return ""


def _read(path: Path, terms: dict[str, str], untyped: set[str]) -> tuple[int, Counter]:
    """Add one file's lines to ``terms`` / ``untyped``; returns (typed lines, Counter of other types)."""
    text = _read_text(path)
    kept, dropped = 0, Counter()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        term, kind = (fields[0].strip(), fields[1].strip().lower()) if len(fields) == 2 else ("", "")
        if not term or not kind:
            if len(fields) == 1:
                problem = "no TAB (spaces and commas do not separate: terms may contain them)"
            elif len(fields) > 2:
                problem = f"{len(fields)} TAB-separated fields"
            else:
                problem = "an empty term" if not term else "an empty type"
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise DataError(f"{path}:{number}: {problem} in line {shown!r}. Expected `term<TAB>type` with type one of "
                            f"{', '.join(TERM_TYPES)} (other types are skipped); fix the line or comment it out with `#`."
                            + _format_hint(path, line))
        if kind in TERM_TYPES:
            terms[term] = kind
            kept += 1
        else:
            untyped.add(term)
            dropped[kind] += 1
    return kept, dropped


@lru_cache(maxsize=1)
def default_lexicon() -> TermLexicon:
    """The project's lexicon (data/medical_terms.txt), loaded once."""
    return TermLexicon.load([DEFAULT_LEXICON])


@dataclass
class TermScore:
    """One answer against its reference. recall/precision/f1 are x100 (None where undefined)."""

    reference: frozenset[str]
    predicted: frozenset[str]
    hits: frozenset[str]
    recall: float | None  # None: the reference has no terms
    precision: float | None  # None: the answer has no terms
    f1: float | None  # None with recall None; 0 when the answer has no terms
    per_type: dict[str, dict[str, int]] = field(default_factory=dict)
    introduced: list[str] = field(default_factory=list)


def _f1(recall: float | None, precision: float | None) -> float | None:
    if recall is None:
        return None
    if not precision or not recall:
        return 0.0
    return 2 * recall * precision / (recall + precision)


def score_terms(prediction: str, reference: str, question: str = "", *, lexicon: TermLexicon | None = None) -> TermScore:
    """Term recall ("accuracy"), precision and F1 of one answer; see TermScore.

    ``introduced``: answer terms written nowhere in the question or the reference (substring test on
    the normalised text, so "桂枝" is not introduced when the question names "柴胡桂枝汤").
    """
    lexicon = lexicon or default_lexicon()
    found_ref = dict(lexicon.extract(reference))
    found_pred = dict(lexicon.extract(prediction))
    ref, pred = frozenset(found_ref), frozenset(found_pred)
    hits = ref & pred
    recall = 100 * len(hits) / len(ref) if ref else None
    precision = 100 * len(hits) / len(pred) if pred else None
    per_type: dict[str, dict[str, int]] = {}
    for side, found in (("reference", found_ref), ("predicted", found_pred)):
        for term, kind in found.items():
            counts = per_type.setdefault(kind, {"reference": 0, "hit": 0, "predicted": 0})
            counts[side] += 1
            if side == "reference" and term in hits:
                counts["hit"] += 1
    context = normalize(question) + "\n" + normalize(reference)
    introduced = sorted(term for term in pred if normalize(term) not in context)
    return TermScore(ref, pred, hits, recall, precision, _f1(recall, precision),
                     {kind: per_type[kind] for kind in TERM_TYPES if kind in per_type}, introduced)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _micro(hit: int, ref: int, pred: int) -> dict[str, float | None]:
    recall = 100 * hit / ref if ref else None
    precision = 100 * hit / pred if pred else None
    return {"recall": _pct(recall), "precision": _pct(precision), "f1": _pct(_f1(recall, precision))}


def _mean(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return _pct(sum(present) / len(present)) if present else None


def _summary(scores: list[TermScore]) -> dict:
    hit = sum(len(score.hits) for score in scores)
    ref = sum(len(score.reference) for score in scores)
    pred = sum(len(score.predicted) for score in scores)
    return {
        "samples": len(scores),
        "samples_with_terms": sum(1 for score in scores if score.reference),
        "micro": _micro(hit, ref, pred),
        "macro": {name: _mean(getattr(score, name) for score in scores) for name in ("recall", "precision", "f1")},
    }


def aggregate(scores: Sequence[TermScore], categories: Sequence[str] | None = None, top: int = 20) -> dict:
    """Corpus figures (x100, 2 decimals; None where undefined).

    micro: summed hits over summed reference (recall) / answer (precision) terms, F1 of the two;
    macro: mean of the per-sample values that are defined. Also per term type (micro), per sample
    category (e.g. tcm / western) and the ``top`` most often introduced terms (answers counted once).
    Keys: samples, samples_with_terms (reference has terms), samples_with_predicted_terms, micro,
    macro, by_type {type: counts + micro}, by_category {category: samples, samples_with_terms, micro,
    macro}, introduced_top [(term, answers)].
    """
    scores = list(scores)
    if categories is not None and len(categories) != len(scores):
        raise ValueError(f"{len(categories)} categories for {len(scores)} scores")
    result = _summary(scores)
    result["samples_with_predicted_terms"] = sum(1 for score in scores if score.predicted)
    per_type = {}
    for kind in TERM_TYPES:
        counts = {side: sum(score.per_type.get(kind, {}).get(side, 0) for score in scores) for side in ("reference", "hit", "predicted")}
        per_type[kind] = {**counts, **_micro(counts["hit"], counts["reference"], counts["predicted"])}
    result["by_type"] = per_type
    groups: dict[str, list[TermScore]] = {}
    for score, category in zip(scores, categories or ()):
        groups.setdefault(category, []).append(score)
    result["by_category"] = {category: _summary(group) for category, group in sorted(groups.items())}
    introduced = Counter(term for score in scores for term in score.introduced)
    result["introduced_top"] = sorted(introduced.items(), key=lambda item: (-item[1], item[0]))[:top]
    return result
