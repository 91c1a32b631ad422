"""Exam questions: loading, prompts, likelihood scoring on the tiny model, answer parsing, accuracy."""

import json

import pytest
from conftest import ROOT, shared_path

from llmtuner.data.template_registry import get_template
from llmtuner.eval.engine import next_token_logits
from llmtuner.eval.mcq_answers import (
    MULTI_INSTRUCTION,
    SINGLE_INSTRUCTION,
    McqItem,
    answer_patterns,
    encode_mcq_prompt,
    format_prompt,
    likelihood_results,
    load_mcq_items,
    mcq_letter_ids,
    option_token_ids,
    parse_answer,
    score_items,
)
from llmtuner.extras.errors import ConfigError, DataError


def score_by_likelihood(model, tokenizer, template, items, batch_size=8, system=None):
    """What the mcq task does per slice with the hf engine, on a model the test holds."""
    letter_ids, token_ids = mcq_letter_ids(tokenizer, items)
    prompts = [encode_mcq_prompt(tokenizer, get_template(template), item, system) for item in items]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return likelihood_results(items, letter_ids, token_ids, next_token_logits(model, prompts, token_ids, batch_size, pad))


SAMPLE = ROOT / "data" / "medical_mcq_sample.json"
OPTIONS = {"A": "异烟肼", "B": "链霉素", "C": "利福平", "D": "乙胺丁醇", "E": "吡嗪酰胺"}


def _row(**overrides):
    row = {"id": "q1", "question": "治疗结核病的一线药物是", "options": dict(OPTIONS), "answer": "C", "category": "western"}
    row.update(overrides)
    return {key: value for key, value in row.items() if value is not ...}  # `...` drops a field


# ---- loading ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "answer, expected", [("C", "C"), ("c", "C"), ("A,B", "AB"), ("A、B", "AB"), ("b a", "AB"), (["D", "A"], "AD"), ("Ｃ", "C")]
)
def test_answers_are_normalised(answer, expected):
    (item,) = load_mcq_items([_row(answer=answer)], "exam.json")
    assert item.answer == expected


def test_defaults_and_option_keys():
    (first, second) = load_mcq_items([_row(id=..., category=...), _row(id=..., options={"b": " 乙 ", "a": "甲"}, answer="a")], "exam.json")
    assert (first.id, second.id) == ("mcq-0", "mcq-1")
    assert first.category == "other"
    assert second.options == {"A": "甲", "B": "乙"}  # upper-cased, stripped, in letter order
    assert second.answer == "A"


BAD_ROWS = {
    "no question": (_row(question=...), "question"),
    "blank question": (_row(question="  "), "question"),
    "no options": (_row(options=...), "options"),
    "options as a list": (_row(options=["甲", "乙"]), "options"),
    "one option": (_row(options={"A": "甲"}, answer="A"), "options"),
    "key not a letter": (_row(options={"A": "甲", "1": "乙"}, answer="A"), "options"),
    "two-letter key": (_row(options={"A": "甲", "AB": "乙"}, answer="A"), "options"),
    "repeated key": (_row(options={"A": "甲", "a": "乙"}, answer="A"), "options"),
    "empty option text": (_row(options={"A": "甲", "B": ""}, answer="A"), "options"),
    "no answer": (_row(answer=...), "answer"),
    "answer not letters": (_row(answer="C?"), "answer"),
    "answer a number": (_row(answer=3), "answer"),
    "answer outside options": (_row(answer="F"), "answer"),
    "empty category": (_row(category=""), "category"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_bad_rows_name_source_sample_and_field(case):
    row, field = BAD_ROWS[case]
    with pytest.raises(DataError) as error:
        load_mcq_items([_row(id="ok"), row], "data/exam.json")
    message = str(error.value)
    assert "data/exam.json" in message and "sample 1" in message and "'q1'" in message and f"'{field}'" in message


def test_duplicate_ids_empty_files_and_non_objects():
    with pytest.raises(DataError, match=r"exam.json: sample 1 \(id 'q1'\): field 'id' repeats the id of sample 0"):
        load_mcq_items([_row(), _row()], "exam.json")
    with pytest.raises(DataError, match="exam.json: holds no questions"):
        load_mcq_items([], "exam.json")
    with pytest.raises(DataError, match="exam.json: sample 0 is a list"):
        load_mcq_items([["治疗结核病的一线药物是"]], "exam.json")


def test_project_and_shared_files_load():
    assert len(load_mcq_items(json.loads(SAMPLE.read_text(encoding="utf-8")), str(SAMPLE))) == 61
    dev = shared_path("data", "medical_mcq_dev.json")
    items = load_mcq_items(json.loads(dev.read_text(encoding="utf-8")), str(dev))
    assert {len(item.options) for item in items} == {4, 5} and {item.category for item in items} == {"tcm", "western"}


# ---- prompts and letter tokens ------------------------------------------------------------------------
def test_format_prompt_single_and_multi():
    single = McqItem(id="x", question="题干", options={"A": "甲", "B": "乙"}, answer="B")
    assert format_prompt(single) == f"{SINGLE_INSTRUCTION}\n\n题干\nA. 甲\nB. 乙\n答案："
    multi = McqItem(id="y", question="题干", options={"A": "甲", "B": "乙", "C": "丙"}, answer="AC")
    assert format_prompt(multi).startswith(MULTI_INSTRUCTION) and format_prompt(multi).endswith("C. 丙\n答案：")


def _letter_after_prompt(tokenizer, template, letter):
    """The first token of an assistant reply that is just the letter: what the model would emit."""
    messages = [{"role": "user", "content": "答案："}, {"role": "assistant", "content": letter}]
    # thinking off, as encode_mcq_prompt renders it: Qwen3's empty think block then sits in the prompt
    return template.encode_turns(tokenizer, messages, enable_thinking=False)[0][1][0]


def _check_letters(tokenizer, template):
    ids = option_token_ids(tokenizer, "ABCDE")
    assert len(set(ids.values())) == 5
    for letter, token_id in ids.items():
        assert tokenizer.decode([token_id]).strip() == letter
        assert _letter_after_prompt(tokenizer, template, letter) == token_id


def test_option_tokens_tiny(tiny_tokenizer):
    _check_letters(tiny_tokenizer, get_template("shuzhiqihuang"))
    item = McqItem(id="x", question="题干", options={"A": "甲", "B": "乙"}, answer="B")
    prompt = encode_mcq_prompt(tiny_tokenizer, "shuzhiqihuang", item)
    assert tiny_tokenizer.decode(prompt).endswith("答案：<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.parametrize("family, folder", [("qwen", "qwen2.5"), ("qwen3", "qwen3"), ("llama3", "llama3")])
def test_option_tokens_real_tokenizers(family, folder):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(shared_path("assets", folder)))
    _check_letters(tokenizer, get_template(family))
    # byte-level BPE: "A" and " A" are different tokens; the reply starts without a space
    assert option_token_ids(tokenizer, "A")["A"] == tokenizer.convert_tokens_to_ids("A")


def test_option_tokens_error_names_the_tokenizer():
    class SplitsEverything:
        name_or_path = "toy/char-pairs"

        def encode(self, text, add_special_tokens=False):
            return [1, 2]

    with pytest.raises(ConfigError, match="toy/char-pairs.*'A'"):
        option_token_ids(SplitsEverything(), "AB")


# ---- likelihood scoring on the tiny model -------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)


@pytest.fixture(scope="module")
def mixed_items():
    """Sample questions interleaved with 4-option copies, so batches mix 4 and 5 options and prompt lengths
    (the tiny model runs a forward per item at batch size 1: 16 items keep the test a few seconds)."""
    items = load_mcq_items(json.loads(SAMPLE.read_text(encoding="utf-8")), str(SAMPLE))
    four = [
        McqItem(id=f"{item.id}-4", question=item.question, options={k: v for k, v in item.options.items() if k != "E"},
                answer=item.answer, category=item.category)
        for item in items[10:] if item.answer != "E"
    ]
    mixed = []
    for index, item in enumerate(items[:10]):
        mixed += [item] + ([four[index]] if index < 6 else [])
    return mixed


def test_batch_size_does_not_change_scores(tiny_model, tiny_tokenizer, mixed_items):
    # no system prompt: shorter prompts, same left-padding problem
    one = score_by_likelihood(tiny_model, tiny_tokenizer, "shuzhiqihuang", mixed_items, batch_size=1, system="")
    eight = score_by_likelihood(tiny_model, tiny_tokenizer, "shuzhiqihuang", mixed_items, batch_size=8, system="")
    assert len({len(item.options) for item in mixed_items}) == 2
    assert [r["id"] for r in one] == [item.id for item in mixed_items] == [r["id"] for r in eight]
    for item, a, b in zip(mixed_items, one, eight):
        assert list(a["probs"]) == list(item.options)
        assert a["probs"] == pytest.approx(b["probs"], abs=1e-5)
        assert a["prediction"] == b["prediction"] == max(a["probs"], key=a["probs"].get)
        assert sum(a["probs"].values()) == pytest.approx(1.0, abs=1e-6)
        if len(item.options) == 4:
            assert "E" not in a["probs"] and a["prediction"] != "E"
    assert not tiny_model.training


def _boost(model, token_ids):
    """A hook adding logits for some tokens at the LAST position only: reading any other position misses it."""

    def hook(module, inputs, output):
        output = output.clone()
        for token_id, value in token_ids.items():
            output[:, -1, token_id] += value
        return output

    return model.lm_head.register_forward_hook(hook)


def test_forced_letter_is_read_from_the_last_position(tiny_model, tiny_tokenizer, mixed_items):
    ids = option_token_ids(tiny_tokenizer, "ABCDE")
    handle = _boost(tiny_model, {ids["D"]: 100.0})
    try:
        results = score_by_likelihood(tiny_model, tiny_tokenizer, "shuzhiqihuang", mixed_items[:6], batch_size=4)
    finally:
        handle.remove()
    assert [r["prediction"] for r in results] == ["D"] * 6
    assert all(r["probs"]["D"] > 0.999 for r in results)


def test_multi_answer_predicts_the_top_k_letters(tiny_model, tiny_tokenizer):
    ids = option_token_ids(tiny_tokenizer, "ABCDE")
    items = [
        McqItem(id="multi", question="以下哪些属于补气药", options=dict(OPTIONS), answer="BD"),
        McqItem(id="single", question="以下哪味属于补气药", options=dict(OPTIONS), answer="A"),
    ]
    handle = _boost(tiny_model, {ids["D"]: 40.0, ids["B"]: 30.0})
    try:
        multi, single = score_by_likelihood(tiny_model, tiny_tokenizer, "shuzhiqihuang", items)
    finally:
        handle.remove()
    assert (multi["prediction"], single["prediction"]) == ("BD", "D")


# ---- parsing generated answers ------------------------------------------------------------------------
PHRASINGS = [
    ("答案：C", "C"), ("答案是C", "C"), ("正确答案为 C", "C"), ("正确答案：（D）", "D"), ("答案：c", "C"),
    ("选C", "C"), ("应选 C 项", "C"), ("本题选C，因为利福平杀菌力强", "C"), ("选项D", "D"), ("选择B", "B"),
    ("C. 利福平", "C"), ("C、利福平", "C"), ("（C）", "C"), ("(C)", "C"), ("【C】", "C"), ("C", "C"), ("c", "C"),
    ("Ｃ", "C"), ("答案：Ｂ", "B"), ("Answer: C", "C"), ("The answer is C.", "C"), ("I choose B", "B"),
    ("Option D", "D"), ("D is correct", "D"),
    ("答案：AB", "AB"), ("A、B", "AB"), ("A和B", "AB"), ("答案是 B 和 D", "BD"),
    ("Answer: A and C", "AC"),
    ("答案：C。A 项错误因为异烟肼…", "C"), ("答案：C，A项错误", "C"), ("不能选A，应选C", "C"), ("不应该选A，应该选C", "C"),
    ("不应该是A", None),
    ("选项A错误，选项C正确", "C"), ("A项错误，B项正确", "B"), ("B超提示胆囊结石，选D", "D"),
    ("维生素B12缺乏，答案E", "E"), ("正确的是C", "C"),
    ("<think>我想A也许对，再看B…</think>答案：C", "C"), ("</think>\n\nB", "B"), ("<think>嗯，A不对", None),
    ("我认为是B选项", "B"), ("B项正确", "B"), ("应该是 E", "E"),
    ("以上都不对", None), ("", None), ("   ", None), ("Because a patient has fever, ...", None),
    ("The answer is a combination of factors", None), ("A patient with fever", None), ("A项错误", None),
    ("患者缺乏维生素C", None), ("选B12", None),
    ("答案：**C**", "C"), ("**C**", "C"), ("Answer: **C**", "C"), ("这道题选 **C**", "C"), ("答：C", "C"),
    ("答案为“C”", "C"), ("Correct option: C", "C"), ("最合适的是C", "C"), ("回答：A项错误，B项正确", "B"),
    ("A. 补脾益气\nB. 行气化湿\nC. 温中", None), ("A. 卫生健康部门\nB. 药监部门\n\n选择：A", "A"),
    ("C. 利福平\n理由：杀菌作用强", "C"), ("C. 温中散寒\n解析：\nA. 不对\nB. 不对", "C"), ("(C)\nA. ×\nB. ×", "C"),
]


@pytest.mark.parametrize("text, expected", PHRASINGS)
def test_parse_answer_phrasings(text, expected):
    assert parse_answer(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("利福平", "C"), ("答案是利福平。", "C"), ("吡嗪酰胺", "E"),
    ("异烟肼和利福平联用", None),  # two options named: no single choice
    ("答案：B", "B"),  # a letter beats option text
    ("不知道", None),
    ("A. 异烟肼\nB. 链霉", None),  # the option list repeated (and cut off): option A's text is no choice
])
def test_parse_answer_option_text(text, expected):
    assert parse_answer(text, OPTIONS) == expected


def test_parse_answer_letters_limit_the_choices():
    four = {k: v for k, v in OPTIONS.items() if k != "E"}
    assert parse_answer("答案：E", four) is None and parse_answer("答案：E", "ABCD") is None
    assert parse_answer("答案：D", "ABCD") == "D" and parse_answer("答案：F", letters="ABCDEF") == "F"
    assert [name for name, _ in answer_patterns()][:2] == ["answer_cn", "answer_en"]  # strongest cue first


# ---- accuracy -----------------------------------------------------------------------------------------
def test_score_items_hand_worked():
    def item(answer, category):
        return McqItem(id=answer + category, question="q", options=dict.fromkeys("ABCDE", "x"), answer=answer, category=category)

    items = [item("A", "tcm"), item("B", "tcm"), item("AB", "tcm"), item("C", "western"), item("D", "western")]
    # tcm: A right, C for B wrong, "B,A" for AB right -> 2/3; western: None wrong, "d" right -> 1/2
    scores = score_items(items, ["A", "C", "B,A", None, "d"])
    assert scores["accuracy"] == 60.0 and (scores["correct"], scores["total"]) == (3, 5)
    assert scores["parse_failures"] == 1 and scores["parse_failure_rate"] == 20.0
    assert scores["categories"] == {
        "tcm": {"accuracy": 66.67, "correct": 2, "total": 3},
        "western": {"accuracy": 50.0, "correct": 1, "total": 2},
    }
    assert score_items(items[2:3], ["A"])["accuracy"] == 0.0  # half of a multi-answer is wrong
    with pytest.raises(ValueError):
        score_items(items, ["A"])
