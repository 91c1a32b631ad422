"""Dates of birth: a date after a birth label (出生日期, 生于, DOB …) or before 出生/生人/生 + punctuation.

Any other date is left alone: admission dates, operation years and lab times are what records are made of,
and 2024年3月15日生化全套 is a biochemistry panel, not a birthday.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .engine import DETECTORS, Span

_DATE = (r"(?:[0-9]{4} ?[-/.年] ?[0-9]{1,2}(?: ?[-/.月] ?[0-9]{1,2} ?日?| ?月)?"
         r"|(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])|[0-9]{1,2}/[0-9]{1,2}/[0-9]{4})")
_LABEL = (r"(?:出生日期|出生年月日?|出生时间|出生于|出生|生日|生于|DOB|D\.O\.B\.?|Date of Birth|Date of birth|date of birth"
          r"|DATE OF BIRTH|Birth ?[Dd]ate|birth ?date|Birthday|birthday)")
_AFTER_LABEL = re.compile(rf"{_LABEL}\s*(?:[:]|为|是|\()?\s*(?P<v>{_DATE})(?![0-9])")
_BORN = re.compile(r"出生|生人|生(?=[,;。、\s)]|$)")
_DATE_BEFORE = re.compile(rf"(?<![0-9])({_DATE}) ?$")


def find_birth_dates(text: str) -> Iterator[Span]:
    for match in _AFTER_LABEL.finditer(text):
        yield Span(match.start("v"), match.end("v"), "birth_date")
    for match in _BORN.finditer(text):  # 1971年3月2日出生, 1966-04-18生，
        date = _DATE_BEFORE.search(text, max(0, match.start() - 16), match.start())
        if date:
            yield Span(date.start(1), date.end(1), "birth_date")


DETECTORS.append(find_birth_dates)
