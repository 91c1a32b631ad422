"""The evaluator's TCM safety check (十八反, 十九畏, 妊娠禁忌) on served answers: annotate, refuse or off.

The question given to the check is every user turn of the conversation, so a pregnancy mentioned early still
counts. `refuse` replaces a flagged answer by a warning naming the rules, never the answer itself.
"""

from dataclasses import dataclass
from typing import Any

from ..eval.safety import check_safety

REFUSAL = ("【安全提示】该回答涉及中药配伍或妊娠用药禁忌（{rules}），已按本服务的安全策略拦截。"
           "请在执业医师或药师指导下用药。")


@dataclass(frozen=True)
class SafetyResult:
    text: str
    flags: list[dict[str, Any]]
    refused: bool = False


def safety_question(turns: list[dict[str, str]]) -> str:
    return "\n".join(turn["content"] for turn in turns if turn["role"] == "user")


def review_answer(mode: str, answer: str, question: str) -> SafetyResult:
    """The text to return and the machine-readable flags (`x_safety`); mode annotate, refuse or off."""
    if mode == "off":
        return SafetyResult(answer, [])
    flags = [{"kind": flag.kind, "herbs": list(flag.herbs), "rule": flag.rule, "level": flag.level}
             for flag in check_safety(answer, question)]
    if mode == "refuse" and flags:
        rules = "；".join(dict.fromkeys(flag["rule"] for flag in flags))
        return SafetyResult(REFUSAL.format(rules=rules), flags, refused=True)
    return SafetyResult(answer, flags)
