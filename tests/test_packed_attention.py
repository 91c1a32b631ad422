"""The CPU training attention: packed rows attend per sample, exactly as the block-diagonal mask would."""

import pytest

from llmtuner.model.packed_attention import register_packed_attention, segment_bounds


def test_segment_bounds():
    import torch

    positions = torch.tensor([[0, 1, 2, 0, 1, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 0, 1, 2]])
    assert segment_bounds(positions) == [[(0, 3), (3, 5), (5, 9)], [(0, 6), (6, 9)]]
    assert segment_bounds(torch.arange(5).repeat(2, 1)) is None  # not packed: the ordinary SDPA path
    assert segment_bounds(torch.tensor([[7, 8, 9, 0, 1]])) == [[(0, 3), (3, 5)]]  # a row may start mid-count


def test_packed_attention_matches_sdpa_with_block_mask_forward_and_backward(tiny_model_dir):
    """Two packed rows (one ending in padding) through both kernels: same logits, same gradients."""
    import torch
    from transformers import AutoModelForCausalLM

    name = register_packed_attention()
    torch.manual_seed(0)
    ids = torch.randint(10, 500, (2, 40))
    positions = torch.tensor([[*range(15), *range(20), *range(5)], [*range(33), *range(7)]])
    results = {}
    for attention in ("sdpa", name):
        model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32, attn_implementation=attention)
        model.config.use_cache = False  # as in training; with a cache transformers ignores packing
        model.train()  # the per-sample path is for training; eval mode takes transformers' SDPA
        logits = model(input_ids=ids, position_ids=positions).logits
        logits.square().mean().backward()
        results[attention] = (logits.detach(), model.model.layers[0].self_attn.q_proj.weight.grad.clone())
    assert torch.allclose(results["sdpa"][0], results[name][0], atol=1e-5)
    assert torch.allclose(results["sdpa"][1], results[name][1], atol=1e-6)


def test_cpu_training_picks_packed_attention_and_generation_does_not():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("on GPUs auto means flash-attn or SDPA")
    from llmtuner.model.loader import infer_attention

    assert infer_attention("auto", training=True) == "sdpa_packed"
    assert infer_attention("auto", training=False) == "sdpa"
    assert infer_attention("eager", training=True) == "eager"  # an explicit choice is kept
