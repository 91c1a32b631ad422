"""A packed row must train exactly like its samples run one by one (no cross-sample attention)."""

import pytest

from llmtuner.data.collator import SupervisedCollator
from llmtuner.data.preprocess import pack_batch, sft_batch
from llmtuner.data.template_registry import get_template
from llmtuner.extras.constants import IGNORE_INDEX

CONVERSATIONS = [
    [{"role": "user", "content": "黄芪有什么功效？"}, {"role": "assistant", "content": "补气升阳，益卫固表，利水消肿。"}],
    [{"role": "user", "content": "二甲双胍常见不良反应？"}, {"role": "assistant", "content": "胃肠道反应，如恶心、腹泻。"}],
    [{"role": "user", "content": "高血压患者饮食注意什么？"}, {"role": "assistant", "content": "低盐低脂，戒烟限酒。"}],
]


def per_token_losses(model, batch):
    import torch

    logits = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits.float()
    labels = batch["labels"]
    shifted = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX, reduction="none"
    )
    return shifted.view(labels.size(0), -1), labels[:, 1:] != IGNORE_INDEX


@pytest.fixture(scope="module")
def samples(tiny_tokenizer):
    out = sft_batch({"_messages": CONVERSATIONS, "_system": [None] * 3}, tiny_tokenizer, get_template("shuzhiqihuang"), 512)
    return [{"input_ids": ids, "labels": labels} for ids, labels in zip(out["input_ids"], out["labels"])]


@pytest.mark.parametrize("attention", ["sdpa", "eager", "sdpa_packed"])
def test_packed_loss_equals_unpacked(tiny_model_dir, tiny_tokenizer, samples, attention):
    import torch
    from transformers import AutoModelForCausalLM

    from llmtuner.model.packed_attention import register_packed_attention

    register_packed_attention()  # what CPU training uses: SDPA per packed sample
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32, attn_implementation=attention)
    model.train(attention == "sdpa_packed")  # the per-sample path runs in training mode; the tiny model has no dropout
    collate = SupervisedCollator(pad_token_id=tiny_tokenizer.pad_token_id)

    single = []
    with torch.no_grad():
        for sample in samples:
            losses, mask = per_token_losses(model, collate([sample]))
            single.append((losses[mask].mean().item(), losses[mask]))

        packed = pack_batch({k: [s[k] for s in samples] for k in ("input_ids", "labels")}, cutoff_len=512)
        assert len(packed["input_ids"]) == 1  # all three fit one row
        row = {k: packed[k][0] for k in packed}
        losses, mask = per_token_losses(model, collate([row]))

        # split the packed row's token losses back into samples by where positions restart
        positions = row["position_ids"][1:]
        sample_index = torch.tensor(positions).eq(0).cumsum(0)
        lengths = [len(s["input_ids"]) for s in samples]
        order = sorted(range(3), key=lambda i: -lengths[i])  # packing places longest first
        for segment, original in enumerate(order):
            segment_losses = losses[0][(sample_index == segment) & mask[0]]
            assert segment_losses.mean().item() == pytest.approx(single[original][0], abs=1e-4)
            assert torch.allclose(segment_losses, single[original][1], atol=1e-4)

        # control: the same row with positions running on (no reset) lets samples see each other
        leaky = dict(row, position_ids=list(range(len(row["input_ids"]))))
        leaky_losses, _ = per_token_losses(model, collate([leaky]))
        assert not torch.allclose(leaky_losses[mask], losses[mask], atol=1e-4)
