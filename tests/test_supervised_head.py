"""SFT computes the LM head only at supervised positions: the same loss and gradients, fewer logits."""

from run_helpers import logged_losses, sft_args, train, write_qa_dataset

from llmtuner.data.collator import SupervisedCollator
from llmtuner.extras.constants import IGNORE_INDEX
from llmtuner.train.sft.supervised_head import SupervisedHead, supports_supervised_head


def _batch(pad_token_id: int):
    """Two rows of different length (right padding), prompts masked."""
    import torch

    torch.manual_seed(0)
    rows = []
    for length, prompt in ((30, 12), (18, 5)):
        ids = torch.randint(10, 500, (length,)).tolist()
        rows.append({"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    return SupervisedCollator(pad_token_id)(rows)


def test_loss_and_gradients_equal_the_full_logits_path(tiny_model_dir, tiny_tokenizer):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    assert supports_supervised_head(model)
    batch = _batch(tiny_tokenizer.pad_token_id)
    reference = model(**batch).loss  # transformers' own shifted cross-entropy over all logits
    reference.backward()
    expected = [p.grad.clone() for p in model.parameters() if p.requires_grad]
    model.zero_grad()

    head, seen = SupervisedHead(), []
    model.get_output_embeddings().register_forward_hook(lambda module, args, output: seen.append(tuple(output.shape)))
    with head.selecting(model, batch["labels"]):
        outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        loss = head.loss(outputs, batch["labels"])
    loss.backward()
    supervised = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    assert seen[-1][0] == supervised  # logits for the supervised tokens only, not 2 x 30 positions
    assert abs(loss.item() - reference.item()) < 1e-5
    for got, want in zip((p.grad for p in model.parameters() if p.requires_grad), expected, strict=True):
        assert torch.allclose(got, want, atol=1e-6)
    # the hook is gone after the block: evaluation sees full logits again
    assert model(**batch).logits.shape[:2] == batch["input_ids"].shape


def test_num_items_in_batch_normalises_like_transformers():
    import torch

    logits = torch.randn(5, 11)
    head = SupervisedHead()
    head._targets = torch.tensor([1, 2, 3, 4, 5])
    summed = torch.nn.functional.cross_entropy(logits, head._targets, reduction="sum")
    assert torch.allclose(head.loss({"logits": logits}, None, num_items_in_batch=torch.tensor(10)), summed / 10)
    assert torch.allclose(head.loss({"logits": logits}, None), summed / 5)
    head._targets = torch.tensor([], dtype=torch.long)
    assert head.loss({"logits": logits[:0]}, None, num_items_in_batch=0).item() == 0.0  # not nan


def test_training_logs_the_same_losses_with_and_without(tmp_path):
    """Gradient accumulation and packing included: the trainer-level losses agree step by step."""
    data = write_qa_dataset(tmp_path / "data")
    losses = {}
    for skip in (True, False):
        output_dir = tmp_path / f"skip-{skip}"
        train(sft_args(data, output_dir, packing=True, cutoff_len=96, gradient_accumulation_steps=2, max_steps=3,
                       per_device_train_batch_size=2, skip_unlabeled_logits=skip))
        losses[skip] = logged_losses(output_dir)
    assert losses[True].keys() == losses[False].keys() == {1, 2, 3}
    for step, loss in losses[True].items():
        assert abs(loss - losses[False][step]) < 1e-4, (step, loss, losses[False][step])
