"""Reward functions for GRPO, chosen by name (`REWARDS`) or by a dotted path to a user's own function.

Calling convention (TRL 1.x, `GRPOTrainer._calculate_rewards`): each function is called with keywords only,
``f(prompts=..., completions=..., completion_ids=..., <every dataset column but prompt/completion>=[one value per
completion], trainer_state=..., log_extra=..., log_metric=...)``, and returns one float per completion. None means
"not applicable": TRL turns it into NaN, leaves it out of that reward's logged mean and counts it as 0 in the
weighted sum (`reward_weights`). TRL logs each reward under its function's ``__name__`` (rewards/mcq_correct_reward).

Prompts and completions come in two shapes: strings (a standard dataset), or, for a conversational dataset, a list
of {"role", "content"} messages per prompt and ``[{"role": "assistant", "content": ...}]`` per completion (a
tokenizer with a response schema may move the reasoning into "reasoning_content"). Both are read here.

The reasoning is not scored, as the evaluator drops ``<think>…</think>``: the answer is what follows the last
``</think>`` (the opening tag may sit in the prompt, as Qwen3 templates put it); a ``<think>`` that never closes
means the answer never came, so the answer is what came before it (usually nothing).

The rewards, with the dataset columns they read (? = optional):
  mcq_correct  answer, options?   1.0 when the evaluator's `parse_answer` reads exactly the gold letters (a
                                  multi-answer item needs the whole set), else 0.0; None where there are no gold letters.
  format       answer?, options?  the required form, see `format_reward` (1.0 / 0.5 / 0.0).
  term_recall  reference          share of the reference's lexicon terms the answer also uses (the evaluator's
                                  `score_terms` recall / 100); None where the reference has no terms.
  tcm_safety   question?          -1.0 per finding of the evaluator's `check_safety` (十八反, 十九畏, 妊娠禁忌), at most
                                  -1.0 in all; 0.0 without findings. The question gives the pregnancy context.
  length       -                  0.0 inside [min_chars, max_chars] answer characters, falling linearly to -1.0 outside.
Keyword defaults (thresholds, the lexicon, whether reasoning is required) are set with functools.partial, which TRL
names after the function it wraps. A dataset column with the name of a keyword would override it: avoid those names.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

# The evaluator's pure text scorers (no torch, no transformers), so training rewards exactly what evaluation scores.
from ...eval.mcq_answers import normalise_letters, parse_answer
from ...eval.safety import check_safety
from ...eval.terms import TermLexicon, default_lexicon, score_terms
from ...extras.errors import ConfigError, DataError

RewardFunction = Callable[..., list[float | None]]

REWARDS: dict[str, RewardFunction] = {}
REWARD_COLUMNS: dict[str, tuple[str, ...]] = {}
"""The dataset columns each registered reward cannot score without, for the GRPO stage to check before training."""

NAMES_KEY, WEIGHTS_KEY = "reward_funcs", "reward_weights"
"""The config keys the error messages name."""

MCQ_FORMAT_INSTRUCTION = "请先简要分析，最后单独一行写出“答案：”和所选选项的字母（多选题写出全部正确字母，如“答案：AB”）。"
"""What a GRPO prompt for a multiple-choice item asks for; `format_reward` checks exactly this form."""

_COLUMN_HELP = {
    "answer": 'the gold option letters, e.g. "C" or "AB"',
    "reference": "the reference answer whose terms are counted",
}
_DECORATION = re.compile(r"\*+|__|`+|[\"“”‘’「」『』]")  # markdown emphasis and quotes, as the MCQ parser drops them
_ANSWER_CUE = re.compile(r"(?:答案|(?i:answer))\s*(?:是|为|:|(?i:is\b))")  # a statement of the answer, in any form
_ANSWER_LINE = re.compile(r"(?:最终|正确)?(?:答案|(?i:final answer|answer))\s*(?:是|为|(?i:is))?\s*:\s*(.*)")
_LETTER_LIST = re.compile(r"([A-Z](?:\s*(?:[、,/;]|和|与|及)?\s*[A-Z])*)\s*[。.]?")


def register_reward(name: str, *, columns: Sequence[str] = ()) -> Callable[[RewardFunction], RewardFunction]:
    """Add a function to REWARDS under `name` (the name a config uses); `columns` go to REWARD_COLUMNS."""

    def add(func: RewardFunction) -> RewardFunction:
        if name in REWARDS:
            raise ValueError(f"reward {name!r} is registered twice ({REWARDS[name].__module__}, {func.__module__})")
        REWARDS[name] = func
        REWARD_COLUMNS[name] = tuple(columns)
        return func

    return add


# ---- reading prompts, completions and columns --------------------------------------------------------------


def _text(content: Any) -> str:
    """A message's content as text: a string, or the text parts of a multimodal content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(str(part.get("text") or "") for part in content
                       if isinstance(part, Mapping) and part.get("type", "text") == "text")
    return ""


def split_reply(completion: str | Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> tuple[str, str, bool]:
    """(reasoning, answer, complete) of one completion, a string or its messages; complete is False when a
    `<think>` never closes (the answer is then what came before it). See the module docstring."""
    reasoning = ""
    if isinstance(completion, str):
        text = completion
    else:
        messages = [completion] if isinstance(completion, Mapping) else list(completion or [])
        replies = [message for message in messages if isinstance(message, Mapping) and message.get("role", "assistant") == "assistant"]
        message = replies[-1] if replies else {}
        reasoning = _text(message.get("reasoning_content") or message.get("thinking"))
        text = _text(message.get("content"))
    if "</think>" in text:
        before, text = text.rsplit("</think>", 1)
        reasoning += before.replace("<think>", "", 1)
    if "<think>" in text:
        text, after = text.split("<think>", 1)
        return (reasoning + after).strip(), text.strip(), False
    return reasoning.strip(), text.strip(), True


def user_text(prompt: str | Sequence[Mapping[str, Any]], question: Any = None) -> str:
    """What the user said: the `question` column when given, else every user turn of a conversational prompt
    (a pregnancy stated in an earlier turn still counts), else the prompt text."""
    if isinstance(question, str) and question.strip():
        return question
    if isinstance(prompt, str):
        return prompt
    turns = [_text(message.get("content")) for message in prompt or [] if isinstance(message, Mapping) and message.get("role") == "user"]
    return "\n".join(turns)


def _column(reward: str, columns: Mapping[str, Any], name: str, size: int, *, required: bool = False) -> list[Any]:
    """One dataset column's values (one per completion); None per row when an optional column is absent."""
    values = columns.get(name)
    if values is None:
        if required:
            raise DataError(f"Reward {reward!r} needs the dataset column {name!r} ({_COLUMN_HELP[name]}), which the GRPO "
                            f"dataset lacks. Add the column, or drop {reward!r} from {NAMES_KEY}.")
        return [None] * size
    values = list(values)
    if len(values) != size:
        raise ValueError(f"column {name!r} has {len(values)} values for {size} completions")
    return values


def _gold(value: Any) -> str | None:
    """The gold letters, sorted ("C", "AB"), from "c", "A、B" or ["A", "B"]; None when they are not letters."""
    if isinstance(value, (list, tuple)) and all(isinstance(part, str) for part in value):
        value = "".join(value)
    return normalise_letters(value) if isinstance(value, str) and value.strip() else None


def _choices(options: Any, gold: str | None) -> tuple[dict[str, str] | None, str]:
    """(letter -> option text or None, the valid letters) of one row. A datasets struct column fills the letters
    another row has with None; those are dropped. Without options the letters are A-E (and the gold ones)."""
    mapping = None
    if isinstance(options, Mapping):
        mapping = {str(key).strip().upper(): str(text) for key, text in options.items() if text not in (None, "")} or None
    letters = "".join(mapping) if mapping else options.upper() if isinstance(options, str) and options.strip() else "ABCDE"
    return (dict(sorted(mapping.items())) if mapping else None), "".join(sorted(set(letters) | set(gold or "")))


# ---- the rewards -----------------------------------------------------------------------------------------------


@register_reward("mcq_correct", columns=("answer",))
def mcq_correct_reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
    """1.0 when the letters the evaluator's parser reads from the answer are exactly the gold `answer`, else 0.0
    (an unreadable answer is wrong, as in the evaluator); None for a row without gold letters."""
    size = len(completions)
    golds = _column("mcq_correct", kwargs, "answer", size, required=True)
    options = _column("mcq_correct", kwargs, "options", size)
    rewards: list[float | None] = []
    for completion, gold_value, option_value in zip(completions, golds, options):
        gold = _gold(gold_value)
        if gold is None:
            rewards.append(None)
            continue
        mapping, letters = _choices(option_value, gold)
        _, answer, _ = split_reply(completion)  # an unclosed <think> leaves no answer to read
        chosen = parse_answer(answer, mapping, letters)
        rewards.append(1.0 if chosen == gold else 0.0)
    return rewards


def _letters_form(answer: str, letters: str) -> float:
    """1.0: the last non-empty line is "答案：X" / "Answer: X" with nothing but valid upper-case letters (separators
    and a final full stop allowed, no letter twice); 0.5: an answer cue is there but elsewhere or with more text
    ("答案：C项，利福平", "答案是C", "故答案：C" inside a sentence); 0.0: no answer cue at all."""
    lines = [_DECORATION.sub("", unicodedata.normalize("NFKC", line)).strip() for line in answer.splitlines()]
    lines = [line for line in lines if line]
    if not any(_ANSWER_CUE.search(line) for line in lines):
        return 0.0
    stated = _ANSWER_LINE.fullmatch(lines[-1])
    listed = _LETTER_LIST.fullmatch(stated.group(1).strip()) if stated else None
    chosen = re.findall("[A-Z]", listed.group(1)) if listed else []
    well_formed = bool(chosen) and len(set(chosen)) == len(chosen) and all(letter in letters for letter in chosen)
    return 1.0 if well_formed else 0.5


@register_reward("format")
def format_reward(prompts: list[Any], completions: list[Any], *, think: bool | None = None, **kwargs: Any) -> list[float | None]:
    """Whether the completion is in the form the GRPO prompts ask for.

    Every completion: 0.0 when a `<think>` never closes or the answer after the reasoning is empty. `think=True`
    (a template that reasons) also needs a non-empty reasoning block, `think=False` none at all (an empty
    `<think></think>` is no reasoning); None (the default) takes either.
    Multiple-choice rows (gold letters in `answer`, or `options`): MCQ_FORMAT_INSTRUCTION's final line, scored by
    `_letters_form` (1.0 / 0.5 / 0.0). Open questions: 1.0 once the rules above hold. Correctness is not judged here.
    """
    size = len(completions)
    golds = _column("format", kwargs, "answer", size)
    options = _column("format", kwargs, "options", size)
    rewards: list[float | None] = []
    for completion, gold_value, option_value in zip(completions, golds, options):
        reasoning, answer, complete = split_reply(completion)
        if not complete or not answer or (think is True and not reasoning) or (think is False and reasoning):
            rewards.append(0.0)
            continue
        gold = _gold(gold_value)
        mapping, letters = _choices(option_value, gold)
        multiple_choice = gold is not None or mapping is not None or (isinstance(option_value, str) and bool(option_value.strip()))
        rewards.append(_letters_form(answer, letters) if multiple_choice else 1.0)
    return rewards


@lru_cache(maxsize=4)
def _load_lexicon(paths: tuple[str, ...]) -> TermLexicon:
    return TermLexicon.load(list(paths))


def _lexicon(value: TermLexicon | str | Path | Sequence[str | Path] | None) -> TermLexicon:
    """The lexicon to match with: the evaluator's default (data/medical_terms.txt), a TermLexicon, or file path(s)
    (loaded once, as `term_lexicon` in an eval config)."""
    if value is None:
        return default_lexicon()
    if isinstance(value, TermLexicon):
        return value
    paths = [value] if isinstance(value, (str, Path)) else list(value)
    return _load_lexicon(tuple(str(path) for path in paths))


@register_reward("term_recall", columns=("reference",))
def term_recall_reward(prompts: list[Any], completions: list[Any], *,
                       lexicon: TermLexicon | str | Path | Sequence[str | Path] | None = None, **kwargs: Any) -> list[float | None]:
    """The share (0-1) of the `reference` answer's lexicon terms that the answer also contains: the evaluator's
    term recall (`score_terms`, leftmost-longest matching) divided by 100.

    None where the reference holds no terms (or is empty): recall is undefined there, as in the evaluator, and
    0.0 would drag the logged mean down for rows no answer could score on. Every completion of a prompt shares
    that reference, so the group's advantages are the same either way.
    """
    size = len(completions)
    references = _column("term_recall", kwargs, "reference", size, required=True)
    terms = _lexicon(lexicon)
    rewards: list[float | None] = []
    for completion, reference in zip(completions, references):
        if not isinstance(reference, str) or not reference.strip():
            rewards.append(None)
            continue
        _, answer, _ = split_reply(completion)
        recall = score_terms(answer, reference, lexicon=terms).recall
        rewards.append(None if recall is None else recall / 100)
    return rewards


@register_reward("tcm_safety")
def tcm_safety_reward(prompts: list[Any], completions: list[Any], *, penalty: float = 1.0, max_penalty: float = 1.0,
                      **kwargs: Any) -> list[float | None]:
    """-`penalty` per finding of the evaluator's `check_safety(answer, question)`, at most -`max_penalty` in all
    (by default -1.0 for any finding); 0.0 without findings. A warning ("附子与半夏不宜同用") is no finding.

    The question (`user_text`: the `question` column, else the prompt's user turns) tells whether the patient is
    pregnant, which makes a 妊娠禁忌 herb a finding.
    """
    size = len(completions)
    questions = _column("tcm_safety", kwargs, "question", size)
    rewards: list[float | None] = []
    for prompt, completion, question in zip(prompts, completions, questions):
        _, answer, _ = split_reply(completion)
        flags = check_safety(answer, user_text(prompt, question)) if answer else []
        rewards.append(-min(max_penalty, penalty * len(flags)) if flags else 0.0)
    return rewards


@register_reward("length")
def length_reward(prompts: list[Any], completions: list[Any], *, min_chars: int = 20, max_chars: int = 1000,
                  include_reasoning: bool = False, **kwargs: Any) -> list[float | None]:
    """A soft penalty for answers far outside [min_chars, max_chars] characters (the answer without its reasoning,
    surrounding whitespace not counted; `include_reasoning=True` counts the reasoning too).

    0.0 inside the range; below it -(min_chars - n) / min_chars (an empty answer -1.0); above it
    -(n - max_chars) / max_chars, down to -1.0 at twice max_chars. The defaults suit open clinical answers (the
    sample references run 20-250 characters); a multiple-choice answer line is shorter, so lower min_chars there.
    """
    if not 0 <= min_chars < max_chars:
        raise ConfigError(f"length reward: min_chars ({min_chars}) must be at least 0 and below max_chars ({max_chars}).")
    rewards: list[float | None] = []
    for completion in completions:
        reasoning, answer, _ = split_reply(completion)
        count = len(answer) + (len(reasoning) if include_reasoning else 0)
        if count < min_chars:
            rewards.append(-(min_chars - count) / min_chars)
        elif count > max_chars:
            rewards.append(-min(1.0, (count - max_chars) / max_chars))
        else:
            rewards.append(0.0)
    return rewards


# ---- choosing rewards from a config -----------------------------------------------------------------------------


def _import_reward(entry: str, where: str) -> RewardFunction:
    """A user's function from "package.module:function" or "package.module.function", or a ConfigError."""
    if ":" in entry:
        module_name, _, attribute = entry.partition(":")
    else:
        module_name, _, attribute = entry.rpartition(".")
    if not module_name or not attribute:
        raise ConfigError(f"{where}: {entry!r} is not a dotted path. Write package.module:function (or package.module.function).")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing and missing != module_name and not module_name.startswith(missing + "."):
            raise ConfigError(f"{where}: module {module_name!r} imports {missing!r}, which is not installed. "
                              f"Install it, or remove that import.") from None
        raise ConfigError(f"{where}: no module {module_name!r} can be imported. Put the folder that holds it on PYTHONPATH "
                          f"(or install its package), or fix the path.") from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            names = [name for name, value in vars(module).items() if callable(value) and not name.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: module {module_name!r} has no {attribute!r}.{hint} Define the function there, or fix the name.")
        target = getattr(target, part)
    if isinstance(target, type) or not callable(target):
        raise ConfigError(f"{where}: {module_name}:{attribute} is a {type(target).__name__}, not a function. Name a function "
                          "that takes prompts, completions and **kwargs and returns one float (or None) per completion.")
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # some builtins and C callables have no signature to read
        return target
    if not any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        raise ConfigError(f"{where}: {module_name}:{attribute} takes no **kwargs, but the trainer passes every dataset column "
                          "and its own state by keyword. Add **kwargs to its parameters.")
    return target


def resolve_rewards(names: Sequence[str], weights: Sequence[float] | None = None) -> tuple[list[RewardFunction], list[float]]:
    """The functions and weights (1.0 each when None) for `reward_funcs` / `reward_weights`, in order, for TRL's
    GRPOTrainer(reward_funcs=...) and GRPOConfig(reward_weights=...).

    An entry is a registered name (REWARDS) or, with a dot or colon, the dotted path of a user's function.
    Unknown names, paths that do not import, entries named twice and a weight count that does not match are
    ConfigErrors naming the entry and the fix.
    """
    available = ", ".join(sorted(REWARDS))
    if not names:
        raise ConfigError(f"{NAMES_KEY} is empty. Name at least one reward ({available}) or a function of your own by its dotted "
                          "path (my_rewards:brevity).")
    functions: list[RewardFunction] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(names, 1):
        entry = raw.strip() if isinstance(raw, str) else ""
        where = f"{NAMES_KEY} entry {index} ({raw!r})"
        if not entry:
            raise ConfigError(f"{where}: not a reward name. Use one of {available}, or a dotted path (my_rewards:brevity).")
        if entry in seen:
            raise ConfigError(f"{where}: {entry!r} is already entry {seen[entry]}. Name each reward once; weigh it more in "
                              f"{WEIGHTS_KEY} instead.")
        seen[entry] = index
        if entry in REWARDS:
            functions.append(REWARDS[entry])
        elif "." in entry or ":" in entry:
            functions.append(_import_reward(entry, where))
        else:
            close = difflib.get_close_matches(entry, REWARDS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: no reward of that name.{hint} The rewards are {available}; a function of your own is "
                              "named by its dotted path (my_rewards:brevity).")
    if weights is None:
        return functions, [1.0] * len(functions)
    if len(weights) != len(functions):
        raise ConfigError(f"{WEIGHTS_KEY} has {len(weights)} values for {len(functions)} rewards in {NAMES_KEY}. Give one weight "
                          f"per reward, in the same order, or leave {WEIGHTS_KEY} out (1.0 each).")
    checked: list[float] = []
    for index, weight in enumerate(weights, 1):
        value = float(weight) if isinstance(weight, (int, float)) and not isinstance(weight, bool) else math.nan
        if not math.isfinite(value):
            raise ConfigError(f"{WEIGHTS_KEY} value {index} ({weight!r}, for {names[index - 1]!r}) is not a finite number. "
                              "Write a number such as 1.0 or 0.5.")
        checked.append(value)
    return functions, checked
