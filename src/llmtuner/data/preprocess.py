"""Aligned messages -> `input_ids` / `labels`, per stage.

PT: every document + EOS, concatenated and cut into `cutoff_len` blocks (no padding wasted).
SFT: the template renders each round; prompt tokens get label -100 and every assistant turn is
learned (or only the last with `mask_history`); long samples are truncated so that the response
keeps a budget; samples with nothing to learn are dropped and counted by reason.
Packing (SFT) puts whole samples into `cutoff_len` rows and restarts `position_ids` per sample, from
which the attention kernels build a block-diagonal mask (no attention across samples).
"""

import bisect
from typing import Any

from ..extras.constants import IGNORE_INDEX
from .template import Template

KEPT = "kept"
DROP_REASONS = {
    "no_response": "the conversation does not end with an assistant answer",
    "empty_response": "the answer is empty",
    "nothing_to_learn": "no answer token survived truncation to cutoff_len",
}


def pt_batch(batch: dict[str, list[Any]], tokenizer: Any, cutoff_len: int) -> dict[str, list[Any]]:
    """Concatenate documents (+EOS) and cut into blocks; the last, shorter block is kept, not dropped."""
    texts = ["\n".join(m["content"] for m in messages) + tokenizer.eos_token for messages in batch["_messages"]]
    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream.extend(ids)
    blocks = [stream[start : start + cutoff_len] for start in range(0, len(stream), cutoff_len)]
    return {"input_ids": blocks, "labels": [list(block) for block in blocks]}


def allot(source_len: int, target_len: int, budget: int) -> tuple[int, int]:
    """Split a token budget between prompt and response so that the response is never starved.

    The response keeps everything if it fits in half the budget; otherwise the prompt keeps
    everything if it fits in half; otherwise both shrink in proportion to their lengths.
    """
    if target_len * 2 < budget:
        max_target = budget
    elif source_len * 2 < budget:
        max_target = budget - source_len
    else:
        max_target = int(budget * target_len / (source_len + target_len))
    new_target = min(max_target, target_len)
    new_source = min(max(budget - new_target, 0), source_len)
    return new_source, new_target


def build_supervised(
    turns: list[tuple[list[int], list[int]]], cutoff_len: int, train_on_prompt: bool, mask_history: bool
) -> tuple[list[int], list[int], bool]:
    """input_ids, labels and whether anything was cut, for one encoded conversation."""
    input_ids: list[int] = []
    labels: list[int] = []
    truncated = False
    # With mask_history only the last round is learned, so truncation must eat history first.
    order = list(reversed(turns)) if mask_history else turns
    used = 0
    for position, (prompt, response) in enumerate(order):
        if used >= cutoff_len:
            truncated = True
            break
        source_len, target_len = allot(len(prompt), len(response), cutoff_len - used)
        truncated |= source_len < len(prompt) or target_len < len(response)
        source, target = prompt[:source_len], response[:target_len]
        used += source_len + target_len
        source_labels = source if train_on_prompt else [IGNORE_INDEX] * source_len
        learn_target = not mask_history or position == 0
        target_labels = target if learn_target else [IGNORE_INDEX] * target_len
        if mask_history:
            input_ids = source + target + input_ids
            labels = source_labels + target_labels + labels
        else:
            input_ids += source + target
            labels += source_labels + target_labels
    return input_ids, labels, truncated


def sft_batch(
    batch: dict[str, list[Any]], tokenizer: Any, template: Template, cutoff_len: int,
    train_on_prompt: bool = False, mask_history: bool = False, enable_thinking: bool = True,
    default_system: str | None = None,
) -> dict[str, list[Any]]:
    """datasets.map function (batched). Dropped samples stay as rows with a `_status` reason so they can be counted."""
    out: dict[str, list[Any]] = {"input_ids": [], "labels": [], "_status": [], "_truncated": []}
    for messages, system in zip(batch["_messages"], batch["_system"]):
        status = KEPT
        if not messages or messages[-1]["role"] != "assistant":
            status = "no_response"
        elif not messages[-1]["content"].strip():
            status = "empty_response"
        input_ids: list[int] = []
        labels: list[int] = []
        truncated = False
        if status == KEPT:
            turns = template.encode_turns(
                tokenizer, messages, system=system if system is not None else default_system, enable_thinking=enable_thinking
            )
            input_ids, labels, truncated = build_supervised(turns, cutoff_len, train_on_prompt, mask_history)
            if all(label == IGNORE_INDEX for label in labels):
                status, input_ids, labels = "nothing_to_learn", [], []
        out["input_ids"].append(input_ids)
        out["labels"].append(labels)
        out["_status"].append(status)
        out["_truncated"].append(truncated)
    return out


def generation_batch(
    batch: dict[str, list[Any]], tokenizer: Any, template: Template, cutoff_len: int,
    enable_thinking: bool = True, default_system: str | None = None,
) -> dict[str, list[Any]]:
    """datasets.map function (batched) for prediction: `input_ids` = the generation prompt, `labels` = the
    reference answer (the final assistant turn; empty when the conversation ends with the user).

    A prompt longer than `cutoff_len` keeps its end: the question is last, and it matters most.
    """
    out: dict[str, list[Any]] = {"input_ids": [], "labels": []}
    for messages, system in zip(batch["_messages"], batch["_system"]):
        ends_with_answer = bool(messages) and messages[-1]["role"] == "assistant"
        reference = messages[-1]["content"] if ends_with_answer else ""
        prompt_messages = messages[:-1] if ends_with_answer else messages
        prompt = template.encode_prompt(tokenizer, prompt_messages, system=system if system is not None else default_system,
                                        enable_thinking=enable_thinking)
        out["input_ids"].append(prompt[-cutoff_len:])
        out["labels"].append(tokenizer.encode(reference, add_special_tokens=False) if reference else [])
    return out


def plan_bins(lengths: list[int], capacity: int) -> list[list[int]]:
    """Best-fit decreasing: each sample (longest first) goes to the fullest row it still fits in."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (remaining capacity, bin index), kept sorted for bisect
    for index in order:
        slot = bisect.bisect_left(free, (lengths[index], -1))
        if slot < len(free):
            remaining, bin_index = free.pop(slot)
        else:
            remaining, bin_index = capacity, len(bins)
            bins.append([])
        bins[bin_index].append(index)
        bisect.insort(free, (remaining - lengths[index], bin_index))
    return bins


def pack_batch(batch: dict[str, list[Any]], cutoff_len: int) -> dict[str, list[Any]]:
    """Best-fit-decreasing packing of whole samples into rows of at most cutoff_len tokens.

    Each sample's positions restart at 0, and its first label is -100 so that the previous sample's
    last token is never trained to predict it (the unpacked sample has no such prediction either).
    """
    lengths = [len(ids) for ids in batch["input_ids"]]
    bins = plan_bins(lengths, cutoff_len)
    out: dict[str, list[Any]] = {"input_ids": [], "labels": [], "position_ids": []}
    for members in bins:
        input_ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for index in members:
            input_ids += batch["input_ids"][index]
            labels += [IGNORE_INDEX] + batch["labels"][index][1:]
            positions += list(range(lengths[index]))
        out["input_ids"].append(input_ids)
        out["labels"].append(labels)
        out["position_ids"].append(positions)
    return out
