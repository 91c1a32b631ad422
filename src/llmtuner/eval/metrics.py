"""Text-overlap metrics for Chinese answers: ROUGE-1/2/L on jieba words and character BLEU-4.

The recipe is LLaMA-Factory's SFT metric, so figures are comparable with what users already report:
  - ROUGE: prediction and reference segmented with jieba, every token (whitespace ones too: rouge-chinese
    splits sentences at the newlines they carry) joined by spaces, F-score of rouge-chinese's
    rouge-1 / rouge-2 / rouge-l; 0 when either side has no words.
  - BLEU-4: nltk's sentence_bleu on characters (reference and prediction as character lists),
    uniform 1-4-gram weights, smoothing method 3 (NIST geometric: a zero n-gram count counts as
    1/2^k); 0 when either side is empty.
Texts are scored as given, surrounding whitespace included, as the recipe does: callers do not strip.
All scores are x100. Corpus figures are the mean of the per-sample scores.
Metric functions are registered by name in TEXT_METRICS, so reports and callers iterate one table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

TEXT_METRICS: dict[str, Callable[[str, str], float]] = {}


def register(name: str) -> Callable[[Callable[[str, str], float]], Callable[[str, str], float]]:
    def add(function: Callable[[str, str], float]) -> Callable[[str, str], float]:
        TEXT_METRICS[name] = function
        return function

    return add


def _words(text: str) -> str:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # jieba announces its dictionary load on every process
    return " ".join(jieba.cut(text))


def rouge_f(prediction: str, reference: str) -> dict[str, float]:
    """{"rouge-1", "rouge-2", "rouge-l"} F-scores x100."""
    hypothesis, gold = _words(prediction), _words(reference)
    if not hypothesis.split() or not gold.split():  # rouge-chinese raises on a side without words
        return {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    from rouge_chinese import Rouge

    scores = Rouge().get_scores(hypothesis, gold)[0]
    return {name: round(scores[name]["f"] * 100, 4) for name in ("rouge-1", "rouge-2", "rouge-l")}


@register("bleu-4")
def bleu4(prediction: str, reference: str) -> float:
    if not prediction or not reference:
        return 0.0
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    score = sentence_bleu([list(reference)], list(prediction), smoothing_function=SmoothingFunction().method3)
    return round(score * 100, 4)


for _name in ("rouge-1", "rouge-2", "rouge-l"):
    register(_name)(lambda prediction, reference, _key=_name: rouge_f(prediction, reference)[_key])


def score_pair(prediction: str, reference: str) -> dict[str, float]:
    """Every text metric for one answer (ROUGE computed once, not once per variant)."""
    scores = rouge_f(prediction, reference)
    scores.update({name: fn(prediction, reference) for name, fn in TEXT_METRICS.items() if name not in scores})
    return scores


def corpus_scores(predictions: Iterable[str], references: Iterable[str]) -> dict[str, float]:
    """Mean of the per-sample scores, per metric."""
    totals: dict[str, float] = dict.fromkeys(TEXT_METRICS, 0.0)
    count = 0
    for prediction, reference in zip(predictions, references, strict=True):
        for name, value in score_pair(prediction, reference).items():
            totals[name] += value
        count += 1
    return {name: round(total / count, 4) if count else 0.0 for name, total in totals.items()}
