"""Person names: patients, relatives and staff, in labelled and unlabelled clinical phrasings.

A name is a surname (name_lexicon.SURNAMES, compound ones included) and one or two more characters, or a
masked 王某/李某某, found in one of these places, from most to least certain:
  field     after a label and colon (姓名：, 联系人：, 主治医师：, 签名：, any …人/者/员：) or after 姓名 alone;
  gender    before the gender, age or bed (张三，男，45岁 / 患者高翔（男，36岁）/ 15床路明，男);
  role      after a formal role (其女, 之子, 联系人, 本人, 护士长, 我叫);
  strong    after a kinship word or staff title (丈夫, 孩子, 护士, 医师), or before a title (由张伟医师接诊);
  weak      after a patient word (患者, 病人, 家属), and only when a following word or punctuation ends it.
A name ends where a following word starts (患者李静因胸痛 -> 李静; name_lexicon.FOLLOW_WORDS), else, after
role and strong words, where jieba's segmentation ends the word. After a speaker label of a dialogue
(患者：…, 医生：…) only a name that is the whole utterance counts.

What is not a name, from field to weak contexts ever more so: clinical words that start with a surname
character (高龄, 黄疸, 管床; NOT_NAMES), given names with particles or pronouns (谢谢 is not 谢 + 谢, 师或药师,
查了; NOT_IN_GIVEN); and outside field and gender contexts also common words of jieba's dictionary (周身,
高度, 宝宝), adjectives as given names (祝健康医生), candidates that cut a dictionary word (健康检查医生 ->
康检查, 查明病因 -> 查明病), and surnames that double as prepositions (于, 和, 向, 应 …: 患者于今晨).
The rules were checked on the shared medical QA data (no patient records): of its 61,125 strings 22 change,
and all but a handful of those are real names (doctors named in consultations, 张某 in exam questions).

Why not jieba's part-of-speech tags alone: on tests/data/deid_corpus.jsonl they find 217 of 251 names (86%)
but change 45 of 243 near-miss sentences (安静, 康复, 阳虚, 柴胡, even 谢谢 and 宝宝 are tagged nr) and run at
about 120 kB/s, far from the 1 MB/s target; here jieba is consulted only where a rule leaves the question open.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from .engine import DETECTORS, Span
from .name_lexicon import (
    COMPOUND_SURNAMES,
    FIELD_LABELS,
    FIELD_WORDS,
    FOLLOW_WORDS,
    FUNCTION_SURNAMES,
    NOT_FIELD_VALUES,
    NOT_GIVEN,
    NOT_IN_GIVEN,
    NOT_NAMES,
    ROLE_ANCHORS,
    STRONG_ANCHORS,
    STRONG_FOLLOW_WORDS,
    SURNAMES,
    TITLES,
    WEAK_ANCHORS,
)

FIELD, GENDER, ROLE, STRONG, SUFFIX, WEAK = "field", "gender", "role", "strong", "suffix", "weak"
_NAME_FIELDS = frozenset(("姓名", "姓 名", "患者姓名", "病人姓名", "患儿姓名", "家属姓名", "联系人姓名", "监护人姓名", "受检者姓名",
                          "Name", "NAME", "name", "Patient Name"))
# Single characters that follow a name (患者鲍春来主诉 …) but are also common in given names: before them the
# longer reading wins.
_GIVEN_NAME_FOLLOWERS = frozenset("来和可为有同行现今能其要")
_STAFF = ("医师", "医生", "护士", "药师")
# Words that also label a speaker in a dialogue (患者：我头痛 / 医生：应该是…): after them a colon is no field.
_SPEAKERS = frozenset(("患者", "病人", "患儿", "病员", "家属", "医生", "医师", "大夫", "护士"))


def _is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


def _word_re(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(word) for word in sorted(set(words), key=len, reverse=True)))


# A word that starts at a position (matched there), and a boundary: not Han, the end, or such a word.
_FOLLOW = _word_re(FOLLOW_WORDS + TITLES)
_FIELD_END = _word_re(FIELD_WORDS)
_STRONG_FOLLOW = _word_re(STRONG_FOLLOW_WORDS)
_COMPOUNDS = frozenset(COMPOUND_SURNAMES)
_GIVEN = re.compile("[\u4e00-\u9fff]{1,2}")


def _boundary(text: str, index: int, words: re.Pattern[str] = _FOLLOW) -> bool:
    return index >= len(text) or not _is_han(text[index]) or words.match(text, index) is not None


def _follower(text: str, index: int, words: re.Pattern[str]) -> str:
    match = words.match(text, index)
    return match.group() if match else ""


def _surname(text: str, index: int) -> int:
    if text[index : index + 2] in _COMPOUNDS:
        return 2
    return 1 if text[index : index + 1] in SURNAMES else 0


@lru_cache(maxsize=1)
def _jieba() -> tuple[Any, dict[str, int], dict[str, str]]:
    """jieba, its word frequencies and part-of-speech tags; loaded on first need (about a second)."""
    import logging

    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    jieba.dt.check_initialized()
    return jieba.dt, jieba.dt.FREQ, jieba.posseg.dt.word_tag_tab


def _common_word(word: str) -> bool:
    """A dictionary word that is no name: seen 100 times (谢谢, 宝宝, 周身: jieba tags all three nr, so the tag
    alone proves nothing), or 10 times with a tag other than a person's (张掖 ns, 解惑 v)."""
    _, frequencies, tags = _jieba()
    frequency, person = frequencies.get(word, 0), tags.get(word, "x").startswith("nr")
    if person and len(word) > 2:
        return False  # 鲍春来: three characters tagged nr are somebody's name
    return frequency >= 100 or frequency >= 10 and not person


def _function_word(word: str) -> bool:
    """jieba knows the word as an adjective, adverb, numeral or particle (健康 a, 一下 m): no given name.
    Nouns, verbs and place names stay possible (建国 ns, 海洋 n, 立新 v are common given names)."""
    _, frequencies, tags = _jieba()
    return frequencies.get(word, 0) >= 20 and tags.get(word, "n")[:1] in _NON_NOUN_TAGS


_NON_NOUN_TAGS = frozenset("apcurmqfz")  # not v, t or d: 建设, 国庆 and 立新 are common given names


@lru_cache(maxsize=8192)
def _dictionary_words(window: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of the tokens of ``window`` that are words of jieba's dictionary (not HMM guesses)."""
    tokenizer, frequencies, _ = _jieba()
    spans, position = [], 0
    for token in tokenizer.lcut(window):
        if len(token) > 1 and frequencies.get(token):
            spans.append((position, position + len(token)))
        position += len(token)
    return tuple(spans)


def _cuts_a_word(text: str, start: int, end: int) -> bool:
    """A dictionary word runs across the start or the end of the candidate (健康检查医生 -> 康检查, 医师和护士 ->
    师和, 查明病因 -> 查明病). Words jieba only guessed (王静于, 冯霞代诉) do not count: names are such guesses."""
    left = max(0, start - 4)
    inner_start, inner_end = start - left, end - left
    return any(a < edge < b for a, b in _dictionary_words(text[left : end + 4]) for edge in (inner_start, inner_end))


def _name_like(word: str) -> bool:
    """jieba tags the word as a person's name, or does not know it (its HMM joined the characters)."""
    _, frequencies, tags = _jieba()
    return tags.get(word, "x").startswith("nr") or not frequencies.get(word)


@lru_cache(maxsize=4096)
def _segmented_end(window: str, surname: int, need_name: bool) -> int | None:
    """Length of the name that ``window`` starts with as jieba segments it, or None."""
    tokenizer, _, _ = _jieba()
    tokens = tokenizer.lcut(window)
    first = tokens[0]
    if surname < len(first) <= surname + 2 and (_name_like(first) or not need_name):
        return len(first)
    if first == window[:surname] and len(tokens) > 1:
        given = tokens[1]
        if 1 <= len(given) <= 2 and all(map(_is_han, given)) and (_name_like(given) or not need_name):
            return surname + len(given)
    return None


def name_end(text: str, start: int, strength: str) -> int | None:
    """End of a name that starts at ``start`` in a context of ``strength``, or None when there is none."""
    surname = _surname(text, start)
    if not surname:
        return None
    after = start + surname
    if text[after : after + 1] == "某":  # 王某, 李某某: a masked name is still a name
        return after + (2 if text[after + 1 : after + 2] == "某" else 1)
    given = _GIVEN.match(text, after)
    if given is None:
        return None
    ends = list(range(after + 1, given.end() + 1))
    words = _FIELD_END if strength == FIELD else _FOLLOW
    end = None
    if len(ends) == 2 and _boundary(text, ends[1], words):
        follower = _follower(text, ends[0], words)
        if not follower or follower in _GIVEN_NAME_FOLLOWERS:
            end = ends[1]
    if end is None and _boundary(text, ends[0], words):
        end = ends[0]
    if end is None and len(ends) == 2 and _boundary(text, ends[1], words):
        end = ends[1]
    if end is None and strength != GENDER:
        if strength == WEAK:
            return None  # 患者孔源性视网膜脱离: after a patient word only a following word ends a name
        length = _segmented_end(text[start : start + 10], surname, strength in (WEAK, SUFFIX))
        end = None if length is None else start + length
    if end is None or _not_a_name(text, start, end, surname, strength):
        return None
    return end


def _not_a_name(text: str, start: int, end: int, surname: int, strength: str) -> bool:
    candidate, given = text[start:end], text[start + surname : end]
    if candidate in NOT_NAMES or candidate[:2] in NOT_NAMES or candidate[:3] in NOT_NAMES or given in NOT_GIVEN:
        return True
    if any(char in NOT_IN_GIVEN for char in given):
        return True
    if strength in (FIELD, GENDER) or _STRONG_FOLLOW.match(text, end):
        return False
    if len(given) == 2 and _function_word(given):
        return True  # 祝健康医生: 健康 is an adjective, not a given name
    if surname == 1 and candidate[0] in FUNCTION_SURNAMES and (strength != ROLE or len(given) == 2 and _common_word(given)):
        return True  # 患者于今晨, 医生应尽的责任, 老公和宝宝; after a role word (其妻时燕) the surname counts
    # 家属高度紧张, 医生全面考虑, 谢谢医生 (common words); 健康检查医生, 查明病因 (cut words)
    return strength != ROLE and _common_word(candidate) or _cuts_a_word(text, start, end)


# ---- where names are looked for -------------------------------------------------------------------
def _alternation(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(word) for word in sorted(set(words), key=len, reverse=True))



_STRENGTH = dict.fromkeys(ROLE_ANCHORS, ROLE) | dict.fromkeys(STRONG_ANCHORS, STRONG) | dict.fromkeys(WEAK_ANCHORS, WEAK)
_SURNAME_CLASS = "".join(sorted(SURNAMES))
_SURNAME_RE = rf"(?:{_alternation(COMPOUND_SURNAMES)}|[{_SURNAME_CLASS}])"
# Only anchors with a possible name after them reach Python: a surname, or for 姓名 fields any Han character.
_AFTER_ANCHOR = r"[ \t]*(?P<colon>:)?[ \t]*(?:为|是)?[ \t]*"
_ANCHOR = re.compile(rf"(?P<a>{_alternation(FIELD_LABELS + ROLE_ANCHORS + STRONG_ANCHORS + WEAK_ANCHORS)}){_AFTER_ANCHOR}"
                     rf"(?={_SURNAME_RE})")
# Any label of a person with a colon: 代诉人：, 病史陈述者：, 回访人员：, 标本采集人：.
_PERSON_LABEL = re.compile(rf"(?<![患病])[人者员][ \t]*:[ \t]*(?={_SURNAME_RE})")
_NAME_FIELD = re.compile(rf"(?P<a>{_alternation(tuple(_NAME_FIELDS))}){_AFTER_ANCHOR}(?=[\u4e00-\u9fff])")
_SENTENCE_START = re.compile(rf"[。;!?\n :>)床](?={_SURNAME_RE}[\u4e00-\u9fff])")
_TITLE = re.compile(_alternation(TITLES))
_GENDER_CHECK = re.compile(r"[,、 (]*(?:男|女)(?:性|孩|婴)?(?:[,、 )]|$)|[,、 (]*[0-9]{1,3} ?(?:岁|月龄)|[,、 ]*[0-9]{1,3}床")


def _field_value_end(text: str, start: int) -> int | None:
    """A 姓名 field may hold a name without a common surname (姓名：毛毛): two to four characters."""
    end = start
    while end < len(text) and end - start < 4 and _is_han(text[end]) and not (end > start + 1 and _FIELD_END.match(text, end)):
        end += 1
    value = text[start:end]
    if end - start >= 2 and _boundary(text, end, _FIELD_END) and value not in NOT_FIELD_VALUES and not NOT_IN_GIVEN & set(value):
        return end
    return None


def find_names(text: str) -> Iterator[Span]:
    for match in _ANCHOR.finditer(text):
        anchor, start = match.group("a"), match.end()
        if anchor in _SPEAKERS:  # 患者：, 医生： are also speakers in a dialogue: the colon proves nothing ...
            strength = _STRENGTH[anchor]
            if match.group("colon"):  # ... unless the whole "utterance" is the name (病人：常青 性别：男)
                end = name_end(text, start, FIELD)
                if end is not None and (end == len(text) or text[end] in " \t\r\n,;。"):
                    yield Span(start, end, "name")
                continue
        elif match.group("colon") or anchor in _NAME_FIELDS:
            strength = FIELD
        elif anchor in _STRENGTH:
            strength = _STRENGTH[anchor]
        elif anchor.endswith(_STAFF):
            strength = STRONG  # 主治医师孙颖, 手术医师 郑伟
        else:
            continue  # 审核时间, 记录体温: a label word without its colon
        end = name_end(text, start, strength)
        if end is None and strength in (WEAK, STRONG, ROLE):
            end = _gender_name_end(text, start)  # 患者于海洋，男: a certain context after all
        if end is not None:
            yield Span(start, end, "name")
    for match in _PERSON_LABEL.finditer(text):
        end = name_end(text, match.end(), FIELD)
        if end is not None:
            yield Span(match.end(), end, "name")
    for match in _NAME_FIELD.finditer(text):  # 姓名：毛毛, without a common surname
        if not _surname(text, match.end()):
            end = _field_value_end(text, match.end())
            if end is not None:
                yield Span(match.end(), end, "name")
    starts = (match.end() for match in _SENTENCE_START.finditer(text))
    for start in itertools.chain((0,), starts):
        end = _gender_name_end(text, start)
        if end is not None:
            yield Span(start, end, "name")
    for match in _TITLE.finditer(text):
        start = _name_before_title(text, match.start())
        if start is not None:
            yield Span(start, match.start(), "name")


def _name_before_title(text: str, title: int) -> int | None:
    """Start of the name that ends where a title starts (由张伟医师接诊, 经王建国主任查房), or None."""
    for length in (4, 3, 2):
        start = title - length
        surname = _surname(text, start) if start >= 0 else 0
        if not surname or not 1 <= length - surname <= 2 or not all(map(_is_han, text[start:title])):
            continue
        if text[start] in FUNCTION_SURNAMES and surname == 1 and text[start + 1] in SURNAMES:
            continue  # 和孟丽护士, 向李医生: the name starts after the preposition
        if name_end(text, start, SUFFIX) == title:
            return start
    return None


def _gender_name_end(text: str, start: int) -> int | None:
    """End of a name at ``start`` that the gender or age right after it confirms (张三，男，45岁)."""
    surname = _surname(text, start)
    given = _GIVEN.match(text, start + surname) if surname else None
    if given is None:
        return None
    for end in range(given.end(), start + surname, -1):
        if _GENDER_CHECK.match(text, end):
            return None if _not_a_name(text, start, end, surname, GENDER) else end
    return None


DETECTORS.append(find_names)
