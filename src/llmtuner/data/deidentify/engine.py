"""The scrubbing pass: every detector reports spans on one folded copy of the text, overlapping spans are
merged, and each merged span is replaced once.

Why spans instead of one substitution per pattern: a substitution changes the text the next pattern sees
(a placeholder next to a number, a label whose value is already gone), so the result depended on the order
of the patterns. Spans are found on the same text, and a number that two detectors claim (a phone inside
an e-mail address, an ID after a record label) is removed whole, never half. Folding maps full-width
characters (１３８…, ：, （) to ASCII one for one, so positions stay valid and the patterns only need the
ASCII forms.

Every detector is a regular expression with bounded repetition plus a check of a few characters around a
match, so the pass is linear in the length of the text (tests/test_deidentify.py checks the growth).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

REPLACEMENTS: dict[str, str] = {
    "email": "[邮箱]",
    "id_card": "[身份证号]",
    "record_number": "[病历号]",
    "mobile": "[手机号]",
    "landline": "[电话]",
    "name": "[姓名]",
    "address": "[地址]",
    "birth_date": "[出生日期]",
    "wechat": "[微信号]",
    "qq": "[QQ号]",
    "passport": "[护照号]",
}

# Full-width ASCII (FF01-FF5E) and the ideographic space, one character for one.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def fold(text: str) -> str:
    """The text with full-width digits, letters and punctuation as ASCII; same length, same positions."""
    return text.translate(_FOLD)


class Span(NamedTuple):
    start: int
    end: int
    kind: str


Detector = Callable[[str], Iterable[Span]]
DETECTORS: list[Detector] = []  # filled by the detector modules when the package is imported


def find_spans(text: str) -> list[Span]:
    """Identifier spans of ``text``, sorted and merged: overlapping spans become one, of the longer one's kind."""
    folded = fold(text)
    return _merged([span for detect in DETECTORS for span in detect(folded)])


def _merged(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            if span.end > last.end:
                kind = span.kind if span.end - span.start > last.end - last.start else last.kind
                merged[-1] = Span(last.start, span.end, kind)
            continue
        merged.append(span)
    return merged


class Pseudonyms:
    """The same placeholder for the same value within one document: 患者[姓名A] … [姓名A]的家属 … [姓名B].

    Letters, not numbers, so that a scrubbed text holds no digits a later pass could take for an identifier.
    It also carries the names found so far, so that a later message's bare 张三 goes too; with
    ``letters=False`` it does only that, and the placeholders stay the plain ones ([姓名]).
    """

    def __init__(self, letters: bool = True) -> None:
        self.letters = letters
        self._labels: dict[tuple[str, str], str] = {}
        self._used: Counter = Counter()
        self.names: set[str] = set()

    def placeholder(self, kind: str, value: str) -> str:
        if not self.letters:
            return REPLACEMENTS[kind]
        key = (kind, value)
        if key not in self._labels:
            index = self._used[kind]
            self._used[kind] += 1
            letters = ""
            while True:
                index, rest = divmod(index, 26)
                letters = chr(ord("A") + rest) + letters
                if index == 0:
                    break
                index -= 1
            self._labels[key] = REPLACEMENTS[kind][:-1] + letters + "]"
        return self._labels[key]


_MAX_KNOWN_NAMES = 2000


def _with_repeated_names(text: str, spans: list[Span], known: set[str]) -> list[Span]:
    """``spans`` plus every other occurrence of a name found in this document (患者张三，男 … 张三本人签字).

    A name is found where its context is certain; its later mentions often have none. One Aho-Corasick pass
    (ahocorasick-rs, already a dependency) keeps this linear however many names a document holds.
    """
    found = {text[span.start : span.end] for span in spans if span.kind == "name"}
    names = sorted(name for name in found | known if len(name) >= 2 and "某" not in name)[:_MAX_KNOWN_NAMES]
    known.update(found)
    if not names:
        return spans
    import ahocorasick_rs

    automaton = ahocorasick_rs.AhoCorasick(names, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
    extra = [Span(start, end, "name") for _, start, end in automaton.find_matches_as_indexes(text)]
    return _merged(spans + extra)


def deidentify_text(text: str, pseudonyms: Pseudonyms | None = None, label: str = "") -> tuple[str, Counter]:
    """Return the scrubbed text and how many identifiers of each kind (keys of REPLACEMENTS) it held.

    With ``pseudonyms`` the same value gets the same lettered placeholder ([姓名A]) across the calls that
    share the object, e.g. the messages of one conversation. ``label`` is the field the text stands in (a
    JSON key, a CSV column): detection reads "label: text", so {"电话": "62345678"} counts as labelled.
    """
    counts: Counter = Counter()
    if not text:
        return text, counts
    if label:  # spans on "label: text", moved back onto the text; a span inside the label itself is dropped
        offset = len(label) + 2
        spans = [Span(max(s.start - offset, 0), s.end - offset, s.kind) for s in find_spans(f"{label}: {text}") if s.end > offset]
    else:
        spans = find_spans(text)
    spans = _with_repeated_names(text, spans, pseudonyms.names if pseudonyms else set())
    pieces, position = [], 0
    for span in spans:
        counts[span.kind] += 1
        value = fold(text[span.start : span.end])
        pieces += [text[position : span.start], pseudonyms.placeholder(span.kind, value) if pseudonyms else REPLACEMENTS[span.kind]]
        position = span.end
    if not pieces:
        return text, counts
    pieces.append(text[position:])
    return "".join(pieces), counts


def deidentify_messages(messages: list[dict[str, Any]], pseudonyms: Pseudonyms | None = None) -> tuple[list[dict[str, Any]], Counter]:
    """Scrub the content of every message; returns new messages and the summed counts.

    The messages are one document: a name found in one message is removed from the others as well.
    """
    pseudonyms = pseudonyms or Pseudonyms(letters=False)
    total: Counter = Counter()
    scrubbed = []
    for message in messages:
        content, counts = deidentify_text(message.get("content") or "", pseudonyms)
        total.update(counts)
        scrubbed.append({**message, "content": content})
    return scrubbed, total
