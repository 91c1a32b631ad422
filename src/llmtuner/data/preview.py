"""`llmtuner preview CONFIG`: look at what the model will be trained on before training it.

Prints a few processed samples with the masked part marked, and the statistics that decide
cutoff_len and packing. This is an explicit user command and prints to stdout; training itself
never logs sample text.
"""

from typing import Any

from ..extras.constants import IGNORE_INDEX
from .pipeline import PreparedData, SplitStats, padding_fraction
from .preprocess import DROP_REASONS, plan_bins

MASK_OPEN, MASK_CLOSE = "⟦", "⟧"
SAMPLE_BOUNDARY = "│"


def render_sample(tokenizer: Any, input_ids: list[int], labels: list[int], position_ids: list[int] | None = None) -> str:
    """Decode a row; spans with label -100 (not learned) are wrapped in ⟦ ⟧, packed samples split by │."""
    pieces: list[str] = []
    span: list[int] = []
    span_masked: bool | None = None

    def flush() -> None:
        if span:
            text = tokenizer.decode(span, skip_special_tokens=False)
            pieces.append(f"{MASK_OPEN}{text}{MASK_CLOSE}" if span_masked else text)
            span.clear()

    for position, (token, label) in enumerate(zip(input_ids, labels)):
        starts_sample = position_ids is not None and position > 0 and position_ids[position] == 0
        masked = label == IGNORE_INDEX
        if starts_sample or masked != span_masked:
            flush()
            span_masked = masked
        if starts_sample:
            pieces.append(f"\n{SAMPLE_BOUNDARY}\n")
        span.append(token)
    flush()
    return "".join(pieces)


def format_stats(stats: SplitStats, cutoff_len: int, batch_size: int) -> str:
    lines = [f"[{stats.split}]"]
    if stats.samples:
        lines.append(f"  samples: {stats.samples}, kept: {stats.kept}, dropped: {stats.samples - stats.kept}")
        for reason, count in stats.dropped.items():
            lines.append(f"    - {count} dropped: {DROP_REASONS[reason]}")
        lines.append(f"  truncated to cutoff_len={cutoff_len}: {stats.truncated}")
    if stats.pii:
        lines.append("  identifiers scrubbed: " + ", ".join(f"{kind} {n}" for kind, n in stats.pii.items()))
    if stats.lengths:
        lines.append("  tokens per sample: " + ", ".join(f"{k} {v}" for k, v in stats.percentiles().items()))
        lines.append(f"  total tokens: {sum(stats.lengths)}")
        unpacked = padding_fraction(stats.lengths, batch_size)
        rows = stats.row_lengths or [sum(stats.lengths[i] for i in members) for members in plan_bins(stats.lengths, cutoff_len)]
        packed = padding_fraction(rows, batch_size)
        lines.append(
            f"  padding at batch size {batch_size}: {unpacked:.1%} without packing, {packed:.1%} with packing "
            f"({len(stats.lengths)} -> {len(rows)} rows)"
        )
    return "\n".join(lines)


def format_preview(prepared: PreparedData, tokenizer: Any, num_samples: int, cutoff_len: int, batch_size: int) -> str:
    out = [f"Masked spans (label -100, not learned) are shown as {MASK_OPEN}...{MASK_CLOSE}; "
           f"packed samples are separated by {SAMPLE_BOUNDARY}.", ""]
    for split in ("train", "eval"):
        dataset = getattr(prepared, split)
        if dataset is None:
            continue
        for index, row in enumerate(dataset):
            if index >= num_samples:
                break
            out.append(f"=== {split} row {index}: {len(row['input_ids'])} tokens ===")
            out.append(render_sample(tokenizer, row["input_ids"], row["labels"], row.get("position_ids")))
            out.append("")
        if split in prepared.stats:
            out.append(format_stats(prepared.stats[split], cutoff_len, batch_size))
            out.append("")
    return "\n".join(out)
