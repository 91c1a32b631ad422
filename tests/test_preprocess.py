"""Token ids and labels per stage: masking, truncation budget, drops, PT chunking, packing."""

import pytest

from llmtuner.data.collator import SupervisedCollator
from llmtuner.data.preprocess import allot, build_supervised, pack_batch, plan_bins, pt_batch, sft_batch
from llmtuner.data.template_registry import get_template
from llmtuner.extras.constants import IGNORE_INDEX

QA = [{"role": "user", "content": "黄芪的功效是什么？"}, {"role": "assistant", "content": "补气升阳，益卫固表。"}]
TWO_ROUNDS = QA + [{"role": "user", "content": "用量呢？"}, {"role": "assistant", "content": "常用9～30克。"}]


def run_sft(tokenizer, conversations, systems=None, **kwargs):
    template = get_template("shuzhiqihuang")
    batch = {"_messages": conversations, "_system": systems or [None] * len(conversations)}
    return sft_batch(batch, tokenizer, template, kwargs.pop("cutoff_len", 1024), **kwargs)


def learned_text(tokenizer, input_ids, labels):
    return tokenizer.decode([token for token, label in zip(input_ids, labels) if label != IGNORE_INDEX])


@pytest.mark.parametrize(
    "budget,source,target,expected",
    [
        (100, 30, 40, (30, 40)),   # both fit
        (100, 80, 40, (60, 40)),   # response fits in half: it keeps everything, prompt is cut
        (100, 30, 90, (30, 70)),   # prompt fits in half: it keeps everything, response is cut
        (100, 150, 50, (75, 25)),  # neither fits in half: proportional (50/200 of 100 = 25)
        (10, 0, 30, (0, 10)),
    ],
)
def test_allot_keeps_a_response_budget(budget, source, target, expected):
    assert allot(source, target, budget) == expected
    assert sum(allot(source, target, budget)) <= budget


def test_prompt_masked_answer_learned(tiny_tokenizer):
    out = run_sft(tiny_tokenizer, [QA])
    ids, labels = out["input_ids"][0], out["labels"][0]
    assert len(ids) == len(labels) and out["_status"] == ["kept"]
    assert learned_text(tiny_tokenizer, ids, labels) == "补气升阳，益卫固表。<|im_end|>\n"
    assert labels[0] == IGNORE_INDEX


def test_every_assistant_turn_learned_by_default(tiny_tokenizer):
    out = run_sft(tiny_tokenizer, [TWO_ROUNDS])
    text = learned_text(tiny_tokenizer, out["input_ids"][0], out["labels"][0])
    assert text == "补气升阳，益卫固表。<|im_end|>\n常用9～30克。<|im_end|>\n"


def test_mask_history_learns_only_the_last_answer(tiny_tokenizer):
    out = run_sft(tiny_tokenizer, [TWO_ROUNDS], mask_history=True)
    assert learned_text(tiny_tokenizer, out["input_ids"][0], out["labels"][0]) == "常用9～30克。<|im_end|>\n"
    full = run_sft(tiny_tokenizer, [TWO_ROUNDS])
    assert out["input_ids"][0] == full["input_ids"][0]  # same tokens, in the same order


def test_train_on_prompt_learns_everything(tiny_tokenizer):
    out = run_sft(tiny_tokenizer, [QA], train_on_prompt=True)
    assert out["labels"][0] == out["input_ids"][0]


def test_system_override_and_default(tiny_tokenizer):
    default = tiny_tokenizer.decode(run_sft(tiny_tokenizer, [QA])["input_ids"][0])
    custom = tiny_tokenizer.decode(run_sft(tiny_tokenizer, [QA], systems=["你是药师。"])["input_ids"][0])
    assert "数智岐黄" in default and "<|im_start|>system\n你是药师。<|im_end|>" in custom


def test_drops_are_counted_by_reason(tiny_tokenizer):
    no_answer = [QA[0]]
    empty = [QA[0], {"role": "assistant", "content": "  "}]
    out = run_sft(tiny_tokenizer, [QA, no_answer, empty])
    assert out["_status"] == ["kept", "no_response", "empty_response"]
    assert out["input_ids"][1] == [] and out["input_ids"][2] == []


def test_truncation_keeps_the_answer(tiny_tokenizer):
    long_question = [{"role": "user", "content": "患者咳嗽。" * 300}, {"role": "assistant", "content": "宜宣肺止咳。"}]
    out = run_sft(tiny_tokenizer, [long_question], cutoff_len=64)
    ids, labels = out["input_ids"][0], out["labels"][0]
    assert len(ids) == 64 and out["_truncated"] == [True]
    assert learned_text(tiny_tokenizer, ids, labels) == "宜宣肺止咳。<|im_end|>\n"


def test_mask_history_truncates_history_first():
    turns = [([1] * 10, [2] * 10), ([3] * 10, [4] * 10)]
    ids, labels, truncated = build_supervised(turns, cutoff_len=25, train_on_prompt=False, mask_history=True)
    assert truncated and ids[-20:] == [3] * 10 + [4] * 10  # the last round survives whole
    assert [label for label in labels if label != IGNORE_INDEX] == [4] * 10


def test_pt_appends_eos_and_chunks(tiny_tokenizer):
    docs = [[{"role": "user", "content": "伤寒论是东汉张仲景所著。" * 5}], [{"role": "user", "content": "黄芪补气。"}]]
    out = pt_batch({"_messages": docs, "_system": [None, None]}, tiny_tokenizer, cutoff_len=16)
    stream = [t for block in out["input_ids"] for t in block]
    assert stream.count(tiny_tokenizer.eos_token_id) == 2
    assert all(len(block) == 16 for block in out["input_ids"][:-1]) and 0 < len(out["input_ids"][-1]) <= 16
    assert out["labels"] == out["input_ids"]


def test_plan_bins_is_a_valid_packing():
    lengths = [7, 3, 9, 1, 5, 5, 2, 8, 10, 4]
    bins = plan_bins(lengths, capacity=10)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 10 for b in bins)
    assert len(bins) == 6  # total 54 tokens: 6 rows is the minimum for capacity 10


def test_pack_batch_resets_positions_and_blocks_first_label():
    batch = {"input_ids": [[1, 2, 3], [4, 5], [6, 7, 8, 9]], "labels": [[-100, 2, 3], [4, 5], [-100, 7, 8, 9]]}
    out = pack_batch(batch, cutoff_len=6)
    rows = list(zip(out["input_ids"], out["labels"], out["position_ids"]))
    assert sorted(t for ids, _, _ in rows for t in ids) == list(range(1, 10))
    for ids, labels, positions in rows:
        assert len(ids) == len(labels) == len(positions) <= 6
        starts = [i for i, p in enumerate(positions) if p == 0]
        assert all(labels[i] == IGNORE_INDEX for i in starts)  # no prediction across the sample boundary


def test_collator_pads_right_and_masks_padding():
    collate = SupervisedCollator(pad_token_id=0)
    batch = collate([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    packed = collate([{"input_ids": [5, 6], "labels": [-100, 6], "position_ids": [0, 1]},
                      {"input_ids": [7], "labels": [7], "position_ids": [0]}])
    assert "attention_mask" not in packed and packed["position_ids"].tolist() == [[0, 1], [0, 0]]
