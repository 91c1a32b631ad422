"""Identifiers written with digits and letters: ID cards, phones, record numbers, e-mail, QQ, WeChat,
passports. Patterns run on folded text (engine.fold), so ：（）＋ and full-width digits are ASCII here.

Where a pattern alone would also hit ordinary clinical numbers, a check decides: an unlabelled 18-digit
number is an ID only with a valid GB 11643 check character, birth date and region (a sample number with a
wrong one is not), while after a 身份证/证件 label any ID-shaped value is one; an 11-digit mobile-shaped
number followed by a unit or after DNA/RNA/定量 is a lab value (HBV-DNA 15300000000 IU/mL); a landline
written without separators needs a 电话-type label; record numbers, QQ, WeChat and passports are only
taken after their labels, since their values look like any code.

Every repetition is bounded and every pattern starts at a fixed character class or a label, so each
pattern tries O(1) work per position (the e-mail pattern used to be quadratic on long letter runs).

Why not jionlp's extractors: on tests/data/deid_corpus.jsonl they find 38/41 mobiles, 15/27 landlines,
30/38 IDs, 18/21 QQ and 15/24 WeChat numbers and 8/19 e-mails (raising on 9 sentences), and take HBV-DNA
15300000000 for a phone. Presidio's phone recogniser (phonenumbers, region CN) finds 41/41 mobiles but
23/27 landlines, and it has nothing for IDs, record numbers or Chinese labels (README, de-identification).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .engine import DETECTORS, Span

# GB 11643-1999: weighted sum of the first 17 digits mod 11 picks the check character.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# First two digits of the administrative division code (provinces, Hong Kong/Macao/Taiwan).
_REGIONS = frozenset(str(code) for code in (
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43,
    44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
))


def _valid_date(year: int, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= (29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31)


def is_valid_id_number(number: str) -> bool:
    """True for an 18-character resident ID number whose check character and birth date are valid."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    if not (1900 <= year <= 2100 and _valid_date(year, month, day)):
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == number[17].upper()


def _is_old_id_number(number: str) -> bool:
    """A 15-digit (pre-1999) ID: region code, then a YYMMDD birth date."""
    return number[:2] in _REGIONS and _valid_date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))


def _labelled(pattern: re.Pattern[str], text: str, start: int, window: int = 24) -> bool:
    return pattern.search(text, max(0, start - window), start) is not None


# Right after a match's first character: the character before the match is not a letter, digit or +, and
# the match does not continue a decimal (3.1381…). Put after the first character rather than before it so
# that the pattern starts with a character class, which the regex engine scans for quickly.
_AFTER_FIRST = r"(?<![0-9A-Za-z+].)(?<![0-9]\..)"
_END = r"(?![0-9A-Za-z]|\.[0-9])"

# ---- ID cards ---------------------------------------------------------------------------------------
_ID_SHAPE = re.compile(rf"[0-9]{_AFTER_FIRST}(?:(?:[ -]?[0-9]){{16}}[ -]?[0-9Xx]|[0-9]{{14}}){_END}")
_ID_LABEL = re.compile(r"(?:身份证|证件|身份号码|公民身份|社保卡|社会保障|ID ?card|ID ?No|identity)[^\d\n。;]{0,12}$", re.I)


def find_id_cards(text: str) -> Iterator[Span]:
    for match in _ID_SHAPE.finditer(text):
        raw = match.group(0)
        digits = raw.replace(" ", "").replace("-", "")
        if len(raw) - len(digits) > 4:  # 1 2 3 4 ... : a row of table values, not one number
            continue
        if _labelled(_ID_LABEL, text, match.start()) or _valid_unlabelled(digits):
            yield Span(match.start(), match.end(), "id_card")


def _valid_unlabelled(digits: str) -> bool:
    """Without a label only a number that checks out: region, birth date and (18 digits) the check character."""
    if len(digits) == 18:
        return digits[:2] in _REGIONS and is_valid_id_number(digits)
    return _is_old_id_number(digits)


# ---- phones ---------------------------------------------------------------------------------------
_MOBILE_BODY = r"1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4}"
_MOBILE = re.compile(rf"\+86[ -]?{_MOBILE_BODY}{_END}|0086[ -]?{_MOBILE_BODY}{_END}|\(\+?86\) ?{_MOBILE_BODY}{_END}"
                     rf"|86-{_MOBILE_BODY}{_END}|1{_AFTER_FIRST}{_MOBILE_BODY[1:]}{_END}")
_LAB_UNIT_AFTER = re.compile(r"\s*(?:IU|iu|copies|copy|cps|拷贝|[UuGgLl]?/|m[Ll](?![A-Za-z])|个|次|元|[mμunp]?g(?![A-Za-z])|kg|mmol|mol|%|×"
                             r"|\*10|[Ee]\+|cells|CFU)")
_LAB_BEFORE = re.compile(r"(?:DNA|RNA|定量|载量|拷贝|计数|浓度|滴度|含量)[^\n。;]{0,8}$")
_PHONE_LABEL = re.compile(r"(?:电话|手机|座机|固话|传真|联系|致电|拨打|[Tt]el|TEL|[Pp]hone|微信|号码)[^\d\n。]{0,8}$")

_LOCAL = r"[2-9][0-9]{2,3}[ -]?[0-9]{4}"
_EXT = r"(?: ?(?:转|ext\.?|EXT\.?|x|分机) ?[0-9]{1,5}|-[0-9]{1,5})?"
_INTERNATIONAL_AREA = r"[ -]?(?:\(0?[0-9]{2,3}\)|0?[0-9]{2,3})[ -]?"
_LANDLINE = re.compile(
    rf"\+86{_INTERNATIONAL_AREA}{_LOCAL}{_EXT}{_END}|0086{_INTERNATIONAL_AREA}{_LOCAL}{_EXT}{_END}"
    rf"|\({_AFTER_FIRST}0[0-9]{{2,3}}\) ?{_LOCAL}{_EXT}{_END}"
    rf"|0{_AFTER_FIRST}[0-9]{{2,3}}[ -]{_LOCAL}{_EXT}{_END}"
)
# Without separators or brackets (057187236541, 62345678) a number is a landline only right after a phone label.
_LABELLED_LANDLINE = re.compile(
    rf"(?:电话|座机|固话|传真|Tel|tel|TEL|致电|拨打|联系方式)[^0-9\n。]{{0,8}}?(?P<v>(?:0[0-9]{{2,3}})?{_LOCAL}{_EXT}){_END}"
)


def find_phones(text: str) -> Iterator[Span]:
    for match in _MOBILE.finditer(text):
        start, end = match.span()
        if not _labelled(_PHONE_LABEL, text, start) and (
                _LAB_UNIT_AFTER.match(text, end) or _labelled(_LAB_BEFORE, text, start, 16)):
            continue  # HBV-DNA 15300000000 IU/mL: a viral load, not a phone
        yield Span(start, end, "mobile")
    for match in _LANDLINE.finditer(text):
        yield Span(match.start(), match.end(), "landline")
    for match in _LABELLED_LANDLINE.finditer(text):
        yield Span(match.start("v"), match.end("v"), "landline")


# ---- labelled numbers -----------------------------------------------------------------------------
_SEPARATOR = r"\s*(?:号码|号|No\.?|NO\.?)?\s*(?:[:#]|为|是|\()?\s*"
# Each alternative starts with a literal character (so the engine can skip to candidates quickly).
_RECORD_LABEL = "|".join(
    [f"{prefix}(?:号码?|编号|ID|id)" for prefix in ("住院", "病案", "门诊", "病历", "就诊卡", "就诊", "登记", "病理", "检查", "影像",
                                                 "医保卡", "医保", "社保卡", "健康卡", "诊疗卡", "档案")]
    + [f"{word}(?![A-Za-z])" for word in ("MRN", "PATIENT ID", "Patient ID", "patient id")]
    + [f"{word} ?ID" for word in ("患者", "病人", "患儿")] + [r"ID(?<![A-Za-z]..)(?:号|No\.?)?(?=\s*[:#])"]
)
_RECORD = re.compile(
    rf"(?:{_RECORD_LABEL}){_SEPARATOR}"
    r"(?P<v>(?:[A-Za-z]{1,4}-?)?[0-9][0-9A-Za-z]{0,24}(?:-[A-Za-z]{1,4}(?=-?[0-9])|-[0-9][0-9A-Za-z]{0,15}"
    r"| [0-9]{3,6}(?![0-9A-Za-z\u4e00-\u9fff])){0,4})(?![0-9A-Za-z])"
)
_QQ = re.compile(rf"(?:QQ(?<![A-Za-z@.]..)|qq(?<![A-Za-z@.]..)|Qq(?<![A-Za-z@.]..)|Q Q|扣扣|企鹅号){_SEPARATOR}"
                 r"(?P<v>[1-9][0-9]{4,11})(?![0-9])")
_WECHAT = re.compile(
    r"(?:微 ?信(?:号码?|号|ID|id)?|WeChat|Wechat|wechat|WECHAT|V信|威信|"
    + "|".join(rf"{word}(?<![A-Za-z]..)" for word in ("VX", "vx", "Vx", "WX", "wx", "Wx")) + ")"
    rf"{_SEPARATOR}(?P<v>[A-Za-z][-_A-Za-z0-9]{{5,19}})(?![-_A-Za-z0-9])"
)
_PASSPORT = re.compile(
    r"(?P<label>护照|Passport|passport|PASSPORT|通行证|旅行证|证件(?=号|编号))(?:号码?|编号| ?[Nn]o\.?| ?NO\.?| ?[Nn]umber)?"
    r"\s*(?:[:#]|为|是)?\s*(?P<v>[A-Za-z]{0,2}[0-9]{6,9})(?![0-9A-Za-z])"
)
_LOCAL_PART = r"[A-Za-z0-9._%+-]{1,64}"
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# Starts only where a run of address characters starts (the look-behind), with every repetition bounded:
# linear, where the old pattern re-scanned a long letter run from each of its positions.
_EMAIL = re.compile(rf"(?<![A-Za-z0-9._%+-]){_LOCAL_PART}@(?:{_DOMAIN_LABEL}\.){{1,8}}[A-Za-z]{{2,24}}(?![A-Za-z0-9-])")

_LABELLED = {"record_number": _RECORD, "qq": _QQ, "wechat": _WECHAT, "passport": _PASSPORT}


def find_labelled(text: str) -> Iterator[Span]:
    for kind, pattern in _LABELLED.items():
        for match in pattern.finditer(text):
            value = match.group("v")
            if kind == "record_number" and sum(c.isdigit() for c in value) < 3:
                continue
            if kind == "passport" and match.group("label") == "证件" and value.isdigit():
                continue  # 证件号码 with digits only is an ID number (find_id_cards)
            yield Span(match.start("v"), match.end("v"), kind)
    for match in _EMAIL.finditer(text):
        yield Span(match.start(), match.end(), "email")


DETECTORS.extend([find_id_cards, find_phones, find_labelled])
