"""Multiple-choice exam questions (中西医 licensing-exam style), scored the way C-Eval/CMMLU evaluators do.

A model's choice is read in one of two ways:
  - likelihood (`likelihood_results`): one forward pass over the prompt (the engine's `next_token_scores`);
    the next-token logits at the last position, restricted to the item's option letters and softmaxed.
    No generation and no parsing, as in C-Eval's and CMMLU's answer-only evaluation.
  - generation: the model writes free text and `parse_answer` pulls the letter(s) out of it.
Either way `score_items` gives exact-match accuracy of the letter set, overall and per category (x100).

Multi-answer items under likelihood: the prediction is the top-k letters by probability, with k the number
of correct letters (ties go to the earlier letter). The prompt already says 多项选择题, so whether an item
is multi-answer is not hidden. One next-token distribution cannot say how many letters to pick, so the
score measures whether the correct letters rank highest.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..data.template import Template
from ..data.template_registry import get_template
from ..extras.errors import ConfigError, DataError

SINGLE_INSTRUCTION = "以下是中国医学考试的单项选择题，请直接给出正确答案的选项字母。"
MULTI_INSTRUCTION = "以下是中国医学考试的多项选择题，请直接给出所有正确答案的选项字母。"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_OPTIONS_FIX = 'Write options as an object of letters to texts: {"A": "…", "B": "…", …}.'


@dataclass
class McqItem:
    id: str
    question: str
    options: dict[str, str]
    """Letter -> option text, in letter order."""
    answer: str
    """The correct letters, upper case and sorted ("C", "AB")."""
    category: str = "other"


def normalise_letters(value: str) -> str | None:
    """"c" -> "C", "A,B" / "A、B" / "B A" -> "AB"; None when anything but letters and separators is left."""
    text = re.sub(r"[\s,，、;；/和]+", "", unicodedata.normalize("NFKC", value)).upper()
    if not text or any(char not in _LETTERS for char in text):
        return None
    return "".join(sorted(set(text)))


def load_mcq_items(rows: Sequence[Mapping[str, Any]], source: str) -> list[McqItem]:
    """Validate exam rows ({"question", "options", "answer", "category", optional "id"}) into items."""
    if not rows:
        raise DataError(f"{source}: holds no questions. Add rows with question/options/answer, or drop the file.")
    items: list[McqItem] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise DataError(f"{source}: sample {index} is a {type(row).__name__}, not an object. Each question must be a JSON object.")
        item_id = f"mcq-{index}" if row.get("id") in (None, "") else str(row["id"])
        where = f"{source}: sample {index} (id {item_id!r})"

        def fail(field: str, problem: str, fix: str, where: str = where) -> DataError:
            return DataError(f"{where}: field {field!r} {problem}. {fix}")

        if item_id in seen:
            raise fail("id", f"repeats the id of sample {seen[item_id]}", "Give every question its own id (results are keyed by it).")
        seen[item_id] = index
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise fail("question", "is missing or empty", "Write the question stem as a non-empty string.")
        raw_options = row.get("options")
        if not isinstance(raw_options, Mapping) or len(raw_options) < 2:
            raise fail("options", "is missing or has fewer than two options", _OPTIONS_FIX)
        options: dict[str, str] = {}
        for key, text in raw_options.items():
            letter = unicodedata.normalize("NFKC", str(key)).strip().upper()
            if len(letter) != 1 or letter not in _LETTERS or letter in options:
                raise fail("options", f"has the key {key!r}, which is not a single letter A-Z (or repeats one)", _OPTIONS_FIX)
            if not isinstance(text, str) or not text.strip():
                raise fail("options", f"has no text for option {letter}", "Give every option a non-empty text, or remove it.")
            options[letter] = text.strip()
        options = dict(sorted(options.items()))
        raw_answer = row.get("answer")
        if isinstance(raw_answer, list) and all(isinstance(part, str) for part in raw_answer):
            raw_answer = "".join(raw_answer)
        answer = normalise_letters(raw_answer) if isinstance(raw_answer, str) else None
        if answer is None:
            raise fail("answer", f"is {raw_answer!r}, not option letters", 'Write the correct letter(s), e.g. "C" or "AB".')
        unknown = [letter for letter in answer if letter not in options]
        if unknown:
            problem = f"names {''.join(unknown)}, but the options are {''.join(options)}"
            raise fail("answer", problem, "Fix the answer or add the missing option.")
        category = row.get("category", "other")
        if not isinstance(category, str) or not category.strip():
            raise fail("category", "is empty or not a string", 'Use a name such as "tcm" or "western", or leave the field out.')
        items.append(McqItem(id=item_id, question=question.strip(), options=options, answer=answer, category=category.strip()))
    return items


def format_prompt(item: McqItem) -> str:
    """The user message, C-Eval style: instruction, question, "A. text" lines, then "答案：" for the letter."""
    instruction = MULTI_INSTRUCTION if len(item.answer) > 1 else SINGLE_INSTRUCTION
    options = [f"{letter}. {text}" for letter, text in item.options.items()]
    return "\n".join([instruction, "", item.question, *options, "答案："])


def encode_mcq_prompt(
    tokenizer: Any, template: Template | str, item: McqItem, system: str | None = None, enable_thinking: bool = False
) -> list[int]:
    """Prompt ids ending with the assistant header. Thinking is off by default: with it on, a Qwen3 reply
    starts with `<think>`, so the first token would not be the answer letter."""
    template = get_template(template) if isinstance(template, str) else template
    messages = [{"role": "user", "content": format_prompt(item)}]
    return template.encode_prompt(tokenizer, messages, system=system, enable_thinking=enable_thinking)


def option_token_ids(tokenizer: Any, letters: Iterable[str]) -> dict[str, int]:
    """The single token id of each letter as the first token of a reply.

    The bare letter is preferred: the assistant header ends with a newline or a role token, so no space
    comes before the answer. " A" is the fallback for vocabularies that only have the letter as "▁A".
    """
    name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
    ids: dict[str, int] = {}
    for letter in letters:
        for text in (letter, " " + letter):
            encoded = tokenizer.encode(text, add_special_tokens=False)
            if len(encoded) == 1 and tokenizer.decode(encoded).strip() == letter:
                ids[letter] = int(encoded[0])
                break
        else:
            raise ConfigError(
                f"Tokenizer {name!r} has no single token for the option letter {letter!r} (neither {letter!r} nor "
                f"{' ' + letter!r}), so likelihood scoring cannot read it. Score this model by generation and parse_answer."
            )
    if len(set(ids.values())) != len(ids):
        raise ConfigError(f"Tokenizer {name!r} maps different option letters to one token ({ids}). Score it by generation instead.")
    return ids


def _top_letters(letters: Sequence[str], probs: Sequence[float], count: int) -> str:
    ranked = sorted(range(len(letters)), key=lambda index: -probs[index])  # stable: ties keep letter order
    return "".join(sorted(letters[index] for index in ranked[:count]))


def likelihood_results(items: Sequence[McqItem], letter_ids: Mapping[str, int], token_ids: Sequence[int],
                       scores: Sequence[Sequence[float]]) -> list[dict[str, Any]]:
    """Per item {"id", "prediction", "probs"} from next-token scores (logits or log-probs of `token_ids`):
    softmax over the item's own letters; multi-answer items predict the top len(answer) letters."""
    import math

    column = {token: index for index, token in enumerate(token_ids)}
    results = []
    for item, row in zip(items, scores):
        letters = list(item.options)
        values = [row[column[letter_ids[letter]]] for letter in letters]
        top = max(values)
        weights = [math.exp(value - top) for value in values]
        probs = [weight / sum(weights) for weight in weights]
        results.append({"id": item.id, "prediction": _top_letters(letters, probs, len(item.answer)),
                        "probs": dict(zip(letters, probs))})
    return results


def mcq_letter_ids(tokenizer: Any, items: Sequence[McqItem]) -> tuple[dict[str, int], list[int]]:
    """(letter -> token id, the ids to score) for every letter the items use."""
    letter_ids = option_token_ids(tokenizer, sorted({letter for item in items for letter in item.options}))
    return letter_ids, sorted(set(letter_ids.values()))


# ---- parsing generated answers ---------------------------------------------------------------------
# Patterns are tried in this order; the first pattern that matches anywhere wins, at its first match:
#   1 answer_cn       答案：C / 答案是C / 正确答案为 C / 答案：A、B / 答：C   (explicit answer cue, strongest)
#   2 answer_en       Answer: C / The answer is (C) / Correct option: C
#   3 stated_correct  B项正确 / 选项C正确 / C is correct
#   4 correct_is      正确的是C / 正确选项为 C / 最合适的是C
#   5 choose          选C / 应选 C 项 / 本题选C / 选项D  (not after 不/不能/不应: "不能选A，应选C" -> C)
#   6 choose_en       I choose B / select (D)
#   7 belief          我认为是B / 应该是 C  (not after 不: "不应该是A")
#   8 option_word     B选项 / C项
#   9 option_en       option D
#  10 bracketed       （C） / (C) / 【C】
#  11 leading         C. 利福平 / C、利福平 / A和B / C   (text starts with the letter and a delimiter)
#  12 bare            c / c.                           (the whole text is letters, any case)
# Markdown emphasis (**C**), backticks and quotes are removed first. A reply that opens by repeating the option
# list ("A. …\nB. …") skips the positional patterns (8, 10-12) and the option-text fallback: its first line
# is not a choice.
# Then, with `options`, the option-text fallback. Weak cues (5-11) skip a letter that is being ruled out, so
# "A项错误" is not a choice. Letters glued to other ASCII letters or digits never match ("Because", "B12").
# Lower-case letters count only after a Chinese cue or alone, so English words like "a" stay words.
# Known limit: an acronym of option letters right after a cue ("答案是ACE抑制剂") reads as a multi-answer.
_SEP = r"(?:\s*(?:[,、/&;]|以及|和|与|及|\band\b)\s*)?"
# A letter followed by 错/不正确/排除 is being ruled out: not a choice, and not the next letter of a list
# ("答案：C，A项错误" is C).
_REJECT = r"(?!\s*(?:选?项)?\s*(?:是|为)?\s*(?:错|不正确|不对|不是|排除|is\s+(?:wrong|incorrect)))"
_OPEN = r"[(\[【]?\s*"


_DECORATION = re.compile(r"\*+|__|`+|[\"“”‘’「」『』]")


@lru_cache(maxsize=32)
def answer_patterns(letters: str = "ABCDE") -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The ordered (name, regex) registry for one set of option letters; group 1 holds the letter(s)."""
    upper, loose = f"[{letters.upper()}]", f"[{letters.upper()}{letters.lower()}]"

    def run(cls: str) -> str:
        return rf"(?<![A-Za-z0-9])({cls}(?:{_SEP}{cls}{_REJECT})*)(?![A-Za-z0-9])"

    table = [
        ("answer_cn", rf"(?:答案|(?<![回解问])答(?=\s*:))\s*(?:应该|应当|应|就|也)?\s*(?:是|为|选择?)?\s*:?\s*(?:选项)?\s*"
                      rf"{_OPEN}{run(loose)}"),
        ("answer_en", rf"(?i:answer|correct option|correct choice)\s*(?:(?i:is|would be|should be)|:)?\s*(?:(?i:option)\s*)?"
                      rf"{_OPEN}{run(upper)}"),
        ("stated_correct", rf"{run(upper)}\s*(?:(?:选?项)?\s*(?:是|为)?\s*(?:正确|对的|最佳|最合适)|\s*is\s+(?:the\s+)?(?:correct|right))"),
        ("correct_is", rf"(?:正确|最合适|最恰当|最佳|最符合题意)的?(?:选项|答案|的是|项)?\s*(?:是|为|:)\s*(?:选项)?\s*{_OPEN}{run(loose)}"),
        ("choose", rf"(?<!不)(?<!不能)(?<!不应)(?<!不该)(?<!不可)(?<!不应该)选(?:择|项)?\s*(?:是|为|:)?\s*{_OPEN}{run(loose)}{_REJECT}"),
        ("choose_en", rf"(?i:choose|select|pick|go with)\s+(?:(?i:option)\s*)?{_OPEN}{run(upper)}{_REJECT}"),
        ("belief", rf"(?<!不)(?:认为|觉得|应该|应当|应|可能|倾向于?)\s*(?:是|为)?\s*(?:选项)?\s*{_OPEN}{run(loose)}{_REJECT}"),
        ("option_word", rf"{run(upper)}\s*(?:选项|项){_REJECT}"),
        ("option_en", rf"(?i:option)\s*{_OPEN}{run(upper)}{_REJECT}"),
        ("bracketed", rf"[(\[【]\s*{run(upper)}\s*[)\]】]"),
        ("leading", rf"^\s*{run(upper)}{_REJECT}\s*(?:[.:、,)]|$|\s+(?=[\u4e00-\u9fff]))"),
        ("bare", rf"^\s*{run(loose)}\s*[.。]?\s*$"),
    ]
    return tuple((name, re.compile(pattern)) for name, pattern in table)


_POSITIONAL = ("option_word", "bracketed", "leading", "bare")


def _echoes_options(reply: str, letters: str) -> bool:
    """The reply opens with the option list repeated: its first lines start "A." then "B." (a reply that opens
    with another letter, "C. 温中散寒\nA. …不对", states its choice first and is read as usual)."""
    starts = re.findall(rf"(?m)^\s*([{letters}])\s*[.:、)]", reply)
    opens_with_first = re.match(rf"\s*{letters[0]}\s*[.:、)]", reply) is not None
    return opens_with_first and starts[:2] == [letters[0], letters[1]]


def _strip_thinking(text: str) -> str:
    """The reply after the reasoning block; an unclosed <think> means the answer never came."""
    if "</think>" in text:  # Qwen3 puts <think> in the prompt at times, so only the closing tag is certain
        return text.rsplit("</think>", 1)[1]
    return text.split("<think>", 1)[0]


def _by_option_text(text: str, options: Mapping[str, str]) -> str | None:
    """The one option whose text the reply contains; an option inside another hit's text does not count."""
    squash = lambda value: re.sub(r"\s+", "", unicodedata.normalize("NFKC", value))  # noqa: E731
    reply = squash(text)
    hits = {letter: squash(value) for letter, value in options.items() if squash(value) and squash(value) in reply}
    distinct = [letter for letter, value in hits.items() if not any(value != other and value in other for other in hits.values())]
    return distinct[0].upper() if len(distinct) == 1 else None


def parse_answer(text: str, options: Mapping[str, str] | str | None = None, letters: str | None = None) -> str | None:
    """The chosen letter(s), sorted ("C", "AB"), from a free-text reply; None when no choice is found.

    `options` (letter -> text) enables the option-text fallback and sets the valid letters; a string there
    is taken as the letters, so `parse_answer(text, "ABCD")` works. Otherwise the letters are "ABCDE".
    """
    if isinstance(options, str):
        options, letters = None, options
    letters = (letters or ("".join(options) if options else "ABCDE")).upper()
    reply = unicodedata.normalize("NFKC", _strip_thinking(text or ""))  # Ｃ -> C, （ -> (, ： -> :
    reply = _DECORATION.sub("", reply).strip()  # "答案：**C**", 答案为“C”: markdown emphasis and quotes carry no choice
    if not reply:
        return None
    echoed = _echoes_options(reply, letters)
    for name, pattern in answer_patterns(letters):
        if echoed and name in _POSITIONAL:
            continue  # "A. …\nB. …" repeats the option list: its first letter is not a choice
        match = pattern.search(reply)
        if match:
            chosen = re.sub(r"(?i)\band\b", "", match.group(1)).upper()  # the separator "and" is no letters
            return "".join(sorted({char for char in chosen if char in letters}))
    return _by_option_text(reply, options) if options and not echoed else None


def score_items(items: Sequence[McqItem], predictions: Sequence[str | None]) -> dict[str, Any]:
    """Exact match of the letter set: accuracy (x100, 2 decimals) overall and per category, the counts, and
    the parse-failure rate (x100: share of None predictions, which count as wrong)."""
    if len(items) != len(predictions):
        raise ValueError(f"{len(items)} items but {len(predictions)} predictions.")
    percent = lambda part, whole: round(100 * part / whole, 2) if whole else 0.0  # noqa: E731
    per_category: dict[str, list[int]] = {}
    correct = failures = 0
    for item, prediction in zip(items, predictions):
        hit = prediction is not None and normalise_letters(prediction) == item.answer
        failures += prediction is None
        correct += hit
        tally = per_category.setdefault(item.category, [0, 0])
        tally[0] += hit
        tally[1] += 1
    return {
        "accuracy": percent(correct, len(items)),
        "correct": correct,
        "total": len(items),
        "parse_failures": failures,
        "parse_failure_rate": percent(failures, len(items)),
        "categories": {
            name: {"accuracy": percent(hits, total), "correct": hits, "total": total}
            for name, (hits, total) in sorted(per_category.items())
        },
    }
