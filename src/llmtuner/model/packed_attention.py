"""Causal attention over packed rows computed one sample at a time (CPU training).

A packed row holds several samples whose `position_ids` restart at each sample. transformers turns
that into a block-diagonal mask and runs SDPA over the whole row: on CPU the kernel then does the
work of one [row x row] causal attention although only the diagonal blocks count (a 1024-token row
of three samples: about three times the needed work). Here each sample (a run of consecutive
positions) goes through SDPA with `is_causal=True` on its own, which is exact and skips the
off-diagonal blocks. On GPUs flash-attn's varlen kernel does the same natively, so this is only
chosen for CPU training (`infer_attention`). Rows without a restart (unpacked batches) and anything
run in eval mode (evaluation, generation with its KV cache) go to transformers' own SDPA unchanged.

Registered through transformers' public `AttentionInterface` under NAME; the mask builder for NAME is
transformers' SDPA one, so padded (unpacked) batches get their usual mask.
"""

from typing import Any

NAME = "sdpa_packed"


def segment_bounds(position_ids: Any) -> list[list[tuple[int, int]]] | None:
    """Per row, [start, end) of each run of consecutive positions; None when no row restarts (not packed)."""
    restarts = position_ids[:, 1:] != position_ids[:, :-1] + 1
    if not bool(restarts.any()):
        return None
    bounds = []
    for row in restarts.tolist():
        starts = [0] + [index + 1 for index, restart in enumerate(row) if restart]
        bounds.append(list(zip(starts, [*starts[1:], len(row) + 1], strict=True)))
    return bounds


def packed_sdpa_forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
                        scaling: float | None = None, is_causal: bool | None = None, **kwargs: Any) -> tuple[Any, None]:
    """AttentionInterface function: query [batch, heads, length, dim], key/value [batch, kv_heads, length, dim]."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    position_ids = kwargs.get("position_ids")
    plain = (not module.training or position_ids is None or query.shape[2] != key.shape[2] or query.shape[2] == 1
             or kwargs.get("sliding_window") is not None or kwargs.get("softcap") is not None
             or kwargs.get("output_attentions", False) or not getattr(module, "is_causal", True))
    bounds = None if plain else segment_bounds(position_ids.expand(query.shape[0], -1))
    if bounds is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    gqa = query.shape[1] != key.shape[1]
    rows = []
    for row, spans in enumerate(bounds):
        parts = [
            torch.nn.functional.scaled_dot_product_attention(
                query[row:row + 1, :, start:end], key[row:row + 1, :, start:end], value[row:row + 1, :, start:end],
                is_causal=True, dropout_p=dropout, scale=scaling, enable_gqa=gqa,
            )
            for start, end in spans
        ]
        rows.append(torch.cat(parts, dim=2))
    output = torch.cat(rows, dim=0)  # [batch, heads, length, dim]
    return output.transpose(1, 2).contiguous(), None


def register_packed_attention() -> str:
    """Make NAME a valid `attn_implementation` (idempotent) and return it."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(NAME, packed_sdpa_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)
    return NAME
