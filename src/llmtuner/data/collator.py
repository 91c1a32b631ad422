"""Batch samples: pad to the longest in the batch (right side), or pad packed rows; left-pad prompts for generation.

Padding gets label -100 and attention 0. Packed rows carry `position_ids` and no attention mask:
transformers then derives a block-diagonal causal mask from where positions restart (SDPA/eager),
or passes sequence boundaries to flash-attn's varlen kernel. Padding of a packed row is given
its own restarting positions, so it forms a separate block nothing attends to.
"""

from dataclasses import dataclass
from typing import Any

from ..extras.constants import IGNORE_INDEX


@dataclass
class SupervisedCollator:
    pad_token_id: int
    pad_to_multiple_of: int | None = None
    """8 on tensor-core GPUs makes matmuls faster; None on CPU."""

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        longest = max(len(feature["input_ids"]) for feature in features)
        if self.pad_to_multiple_of:
            longest = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        packed = "position_ids" in features[0]
        input_ids, labels, attention, positions = [], [], [], []
        for feature in features:
            ids = list(feature["input_ids"])
            pad = longest - len(ids)
            input_ids.append(ids + [self.pad_token_id] * pad)
            labels.append(list(feature.get("labels", ids)) + [IGNORE_INDEX] * pad)
            if packed:
                positions.append(list(feature["position_ids"]) + list(range(pad)))
            else:
                attention.append([1] * len(ids) + [0] * pad)
        batch = {"input_ids": torch.tensor(input_ids), "labels": torch.tensor(labels)}
        if packed:
            batch["position_ids"] = torch.tensor(positions)
        else:
            batch["attention_mask"] = torch.tensor(attention)
        return batch


@dataclass
class GenerationCollator:
    """Batch generation prompts: padded on the LEFT, so every row's continuation starts right after its
    last real token; the reference answers (`labels`) are padded on the right with -100."""

    pad_token_id: int

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        longest = max(len(feature["input_ids"]) for feature in features)
        longest_label = max(1, *(len(feature.get("labels", [])) for feature in features))
        input_ids, attention, labels = [], [], []
        for feature in features:
            ids = list(feature["input_ids"])
            pad = longest - len(ids)
            input_ids.append([self.pad_token_id] * pad + ids)
            attention.append([0] * pad + [1] * len(ids))
            reference = list(feature.get("labels", []))
            labels.append(reference + [IGNORE_INDEX] * (longest_label - len(reference)))
        return {"input_ids": torch.tensor(input_ids), "attention_mask": torch.tensor(attention), "labels": torch.tensor(labels)}
