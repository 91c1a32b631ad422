"""Text metrics against hand-worked values (ROUGE on jieba words, character BLEU-4 with smoothing 3)."""

import math

import pytest

from llmtuner.eval.metrics import TEXT_METRICS, bleu4, corpus_scores, rouge_f, score_pair


def test_rouge_hand_worked():
    # space-separated single characters: jieba keeps each as one word.
    # unigrams 3 of 4 shared -> P = R = F = 0.75; bigrams {甲乙, 乙丙} of 3 -> 2/3; LCS 甲乙丙 = 3 of 4 -> 0.75
    scores = rouge_f("甲 乙 丙 丁", "甲 乙 丙 戊")
    assert scores["rouge-1"] == pytest.approx(75.0)
    assert scores["rouge-2"] == pytest.approx(200 / 3, abs=1e-3)
    assert scores["rouge-l"] == pytest.approx(75.0)


def test_bleu4_hand_worked_with_smoothing_method3():
    # character n-gram precisions 3/4, 2/3, 1/2 and 0/1; method 3 turns the first zero into 1/(2*1);
    # same length -> no brevity penalty; BLEU = (3/4 * 2/3 * 1/2 * 1/2) ** (1/4)
    expected = (0.75 * (2 / 3) * 0.5 * 0.5) ** 0.25 * 100
    assert bleu4("甲乙丙丁", "甲乙丙戊") == pytest.approx(expected, abs=1e-3)


def test_bleu4_brevity_penalty():
    # a correct but half-length answer: precisions all 1, BP = exp(1 - 8/4)
    assert bleu4("风寒感冒", "风寒感冒风寒感冒") == pytest.approx(math.exp(1 - 2) * 100, abs=1e-3)


@pytest.mark.parametrize("prediction, reference", [("", "头痛"), ("头痛", ""), ("", ""), ("   ", "头痛")])
def test_empty_sides_score_zero(prediction, reference):
    scores = score_pair(prediction, reference)
    assert set(scores) == set(TEXT_METRICS)
    assert all(value == 0.0 for value in scores.values())


def test_identical_answers_score_100_and_corpus_is_the_mean():
    answer = "高血压患者应当低盐饮食，规律服药，定期复查血压。"
    assert all(value == pytest.approx(100.0) for value in score_pair(answer, answer).values())
    mean = corpus_scores([answer, ""], [answer, answer])
    assert mean["rouge-1"] == pytest.approx(50.0) and mean["bleu-4"] == pytest.approx(50.0)
    with pytest.raises(ValueError):
        corpus_scores(["a"], ["a", "b"])
