"""Batched generation for evaluation: left-padded prompts, KV cache, the template's stop words.

Prompts are sorted by length so a batch pads little, and results are yielded batch by batch so
the caller can store each one before the next starts (a stopped evaluation resumes from there).
"""

from collections.abc import Iterator
from typing import Any

from ..data.collator import GenerationCollator


def generate_batches(
    model: Any, tokenizer: Any, prompts: list[list[int]], gen_kwargs: dict[str, Any], batch_size: int,
    stop_token_ids: list[int], seed: int = 42,
) -> Iterator[list[tuple[int, str]]]:
    """Yield [(prompt index, answer text)] per batch; greedy unless gen_kwargs sample."""
    import torch

    torch.manual_seed(seed)  # sampling is reproducible for a given seed and batch size
    collate = GenerationCollator(tokenizer.pad_token_id)
    order = sorted(range(len(prompts)), key=lambda index: (-len(prompts[index]), index))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = collate([{"input_ids": prompts[index]} for index in chunk])
        inputs = {key: batch[key].to(model.device) for key in ("input_ids", "attention_mask")}
        with torch.no_grad():
            output = model.generate(**inputs, **gen_kwargs, eos_token_id=stop_token_ids,
                                    pad_token_id=tokenizer.pad_token_id, use_cache=True)
        answers = tokenizer.batch_decode(output[:, inputs["input_ids"].size(1) :], skip_special_tokens=True)
        yield [(index, answer.strip()) for index, answer in zip(chunk, answers)]
