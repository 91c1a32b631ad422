"""Scrub direct identifiers from clinical text before it is tokenised (`deidentify: true`).

A safety net for data that should already be de-identified, not a replacement for a formal
de-identification process. Each kind is one regular expression plus, where the pattern alone would
hit ordinary clinical numbers, a check (the GB 11643 checksum of an ID number, a field label before
a record number, a common surname after 患者 with a gender/age context (or a masked name such as 王某),
a name in a 姓名 field; clinical characters are excluded from given names so 患者高热/患者安静 survive). What looks similar but is not an
identifier -- dosages, dates, lab values, ICD codes, times -- is left alone; the tests plant such
near-misses beside real-looking identifiers.

Hand-written rather than taken from a library: the general PII tools (presidio and the like) target
English identifiers and would need these same Chinese patterns added as custom recognisers.
Placeholders contain no digits and no name characters, so scrubbing twice changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

REPLACEMENTS: dict[str, str] = {
    "email": "[邮箱]",
    "id_card": "[身份证号]",
    "record_number": "[病历号]",
    "mobile": "[手机号]",
    "landline": "[电话]",
    "name": "[姓名]",
}

# GB 11643-1999: weighted sum of the first 17 digits mod 11 picks the check character.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def is_valid_id_number(number: str) -> bool:
    """True for an 18-character resident ID number whose check character and birth date are valid."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    if not (1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == number[17].upper()


# The most common single and compound surnames (together well over 90% of the population); a name
# after 患者 must start with one, which keeps 患者高热/患者自述 and the like out.
_COMPOUND_SURNAMES = "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|夏侯|令狐|端木"
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    "常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单"
    "季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄"
    "窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查"
    "麻苑迟邝"
)
_HAN = r"[\u4e00-\u9fff]"
_SURNAME = rf"(?:{_COMPOUND_SURNAMES}|[{_SURNAMES}])"
# A given name of one or two characters, or 某/某某 as in 王某某.
_PERSON = rf"{_SURNAME}(?:某某?|{_HAN}{{1,2}}?)"
# What may follow a full name after a bare 患者: punctuation, then gender or age (患者张三，男，45岁 /
# 患者王某 女 32岁). Punctuation alone is not enough there: 患者黄疸， / 患者房颤， / 患者高龄， start with
# surnames too. A masked name (王某, 李某某) is a name whatever follows, as is a name in a 姓名 field.
_GENDER_OR_AGE = r"(?=[，,、\s（(]*(?:男|女|\d{1,3}\s*岁))"
_AFTER_NAME = r"(?=[，,、。；;：:\s（(]|男|女|\d{1,3}\s*岁|主诉|自诉|因|于)"
_MASKED_PERSON = rf"{_SURNAME}某某?"

# Where a name in a 姓名 field ends: anything not Han, or the next field of a form (姓名：李四性别：男).
_FIELD_END = r"[^\u4e00-\u9fff]|性别|年龄|男|女|科室|床号|住院|门诊|$"

_NUMBER_START = r"(?<!\d)(?<!\d\.)"
_NUMBER_END = r"(?!\d|\.\d)"
# Characters that make "患者 + surname-like character + one or two more" a clinical phrase, not a name:
# 患者高热 / 患者于今日 / 病人马上 start with the surnames 高, 于, 马.
# 患者安静 / 患者和家属 / 患者康复 / 患者应卧床 likewise (安, 和, 康, 应).
_NOT_IN_GIVEN_NAMES = set("热痛咳喘泻吐晕胀肿痒酸麻今昨日时上下前后左右因自诉述无有不已曾经常突反"
                          "静复家属身体确卧床情况好转差良稳定清醒意识配合休息")

_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    "id_card": re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"),
    "record_number": re.compile(
        r"(?P<label>(?:(?:住院|病案|门诊|病历|就诊卡|医保卡)(?:号码?|编号|ID)|(?:住院|门诊|病案)\s*ID)\s*[：:]?\s*)"
        r"(?P<value>[A-Za-z]{0,4}[-]?\d[\dA-Za-z-]{3,23})"
    ),
    # Not inside a longer number or a decimal (3.13812345678), but a sentence-ending "." may follow.
    "mobile": re.compile(rf"{_NUMBER_START}(?:(?:\+|00)?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{{4}}){{2}}{_NUMBER_END}"),
    "landline": re.compile(
        rf"{_NUMBER_START}(?:\(0\d{{2,3}}\)\s?|（0\d{{2,3}}）\s?|0\d{{2,3}}[-\s])[2-9]\d{{6,7}}(?:-\d{{1,5}})?{_NUMBER_END}"
        rf"|(?P<label>(?:电话|座机|联系电话|固话|传真)\s*[：:]?\s*)(?P<value>[2-9]\d{{6,7}}){_NUMBER_END}"
    ),
    "name": re.compile(
        rf"(?P<label>(?:姓\s*名|患者姓名|病人姓名|联系人)\s*[：:]\s*)(?P<value>{_HAN}{{2,4}}?)(?={_FIELD_END})"
        rf"|(?P<label4>(?:姓\s*名|患者姓名|病人姓名)\s*(?:为|是)?\s*)(?P<value4>{_PERSON}){_AFTER_NAME}"
        rf"|(?P<label2>(?:患者|病人|患儿)\s*[：:]\s*)(?P<value2>{_PERSON})(?!{_HAN})"
        rf"|(?P<label3>患者|病人|患儿)(?P<value3>{_PERSON}){_GENDER_OR_AGE}"
        rf"|(?P<label5>患者|病人|患儿)(?P<value5>{_MASKED_PERSON}){_AFTER_NAME}"
    ),
}


def _replace_labelled(kind: str, counts: Counter) -> Callable[[re.Match[str]], str]:
    """Substitution that keeps a field label (住院号：, 姓名：) and replaces only the value after it."""
    placeholder = REPLACEMENTS[kind]

    def substitute(match: re.Match[str]) -> str:
        groups = match.groupdict()
        person = groups.get("value2") or groups.get("value3") or groups.get("value4") or groups.get("value5")
        if kind == "name" and person and _NOT_IN_GIVEN_NAMES & set(person[1:]):
            return match.group(0)
        counts[kind] += 1
        label = next((groups[key] for key in ("label", "label2", "label3", "label4", "label5") if groups.get(key) is not None), "")
        return label + placeholder

    return substitute


def _replace_id(counts: Counter) -> Callable[[re.Match[str]], str]:
    def substitute(match: re.Match[str]) -> str:
        if not is_valid_id_number(match.group(0)):
            return match.group(0)  # 18 digits with a wrong checksum: a lab/sample number, not an ID
        counts["id_card"] += 1
        return REPLACEMENTS["id_card"]

    return substitute


def deidentify_text(text: str) -> tuple[str, Counter]:
    """Return the scrubbed text and how many identifiers of each kind (keys of REPLACEMENTS) it held."""
    counts: Counter = Counter()
    if not text:
        return text, counts
    for kind, pattern in _PATTERNS.items():
        substitute = _replace_id(counts) if kind == "id_card" else _replace_labelled(kind, counts)
        text = pattern.sub(substitute, text)
    return text, counts


def deidentify_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Counter]:
    """Scrub the content of every message; returns new messages and the summed counts."""
    total: Counter = Counter()
    scrubbed = []
    for message in messages:
        content, counts = deidentify_text(message.get("content") or "")
        total.update(counts)
        scrubbed.append({**message, "content": content})
    return scrubbed, total
