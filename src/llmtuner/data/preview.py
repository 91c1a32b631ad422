"""`llmtuner preview CONFIG`: look at what the model will be trained on before training it.

Prints a few processed samples with the masked part marked, and the statistics that decide
cutoff_len and packing; for the preference stages each pair's prompt (masked: not scored), chosen and
rejected answers with their token counts, or KTO's answers with their labels; for grpo the prompts the model will
complete and the columns its rewards read. This is an explicit user
command and prints to stdout; training itself never logs sample text.
"""

from collections.abc import Iterator
from itertools import islice
from typing import Any

from ..extras.constants import IGNORE_INDEX
from .pipeline import PreparedData, SplitStats, padding_fraction
from .preference import PreferenceData, PreferenceStats
from .preprocess import DROP_REASONS, plan_bins
from .prompts import EXTRA_COLUMNS, PromptData

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


def _splits(prepared: Any) -> Iterator[tuple[str, Any]]:
    """(split name, dataset) for the splits the data has: train, then eval."""
    for split in ("train", "eval"):
        dataset = getattr(prepared, split)
        if dataset is not None:
            yield split, dataset


def format_preview(prepared: PreparedData, tokenizer: Any, num_samples: int, cutoff_len: int, batch_size: int) -> str:
    if isinstance(prepared, PreferenceData):  # pairs, or KTO's labelled answers
        return format_preference_preview(prepared, tokenizer, num_samples, cutoff_len)
    if isinstance(prepared, PromptData):  # grpo: prompts only, the answers are sampled while training
        return format_prompt_preview(prepared, tokenizer, num_samples, cutoff_len)
    out = [f"Masked spans (label -100, not learned) are shown as {MASK_OPEN}...{MASK_CLOSE}; "
           f"packed samples are separated by {SAMPLE_BOUNDARY}.", ""]
    for split, dataset in _splits(prepared):
        for index, row in enumerate(islice(dataset, num_samples)):
            out.append(f"=== {split} row {index}: {len(row['input_ids'])} tokens ===")
            out.append(render_sample(tokenizer, row["input_ids"], row["labels"], row.get("position_ids")))
            out.append("")
        if split in prepared.stats:
            out.append(format_stats(prepared.stats[split], cutoff_len, batch_size))
            out.append("")
    return "\n".join(out)


# ---- preference stages ------------------------------------------------------------------------
def _answer(tokenizer: Any, prompt: list[int], answer: list[int]) -> str:
    return render_sample(tokenizer, list(prompt) + list(answer), [IGNORE_INDEX] * len(prompt) + list(answer))


def format_row(tokenizer: Any, row: dict[str, Any], index: int, split: str) -> list[str]:
    prompt = row["prompt_ids"]
    if "completion_ids" in row:  # KTO
        label = "desirable" if row["label"] else "undesirable"
        return [f"=== {split} answer {index} ({label}): prompt {len(prompt)} + answer {len(row['completion_ids'])} tokens ===",
                _answer(tokenizer, prompt, row["completion_ids"]), ""]
    chosen, rejected = row["chosen_ids"], row["rejected_ids"]
    return [f"=== {split} pair {index}: prompt {len(prompt)} tokens, chosen {len(chosen)}, rejected {len(rejected)} ===",
            f"--- chosen ({len(prompt) + len(chosen)} tokens)", _answer(tokenizer, prompt, chosen),
            f"--- rejected ({len(prompt) + len(rejected)} tokens)", _answer(tokenizer, prompt, rejected), ""]


def _median(values: list[int]) -> int:
    return sorted(values)[len(values) // 2] if values else 0


def format_preference_stats(stats: PreferenceStats, cutoff_len: int) -> str:
    what = "answers" if not stats.rejected_lengths else "pairs"
    lines = [f"[{stats.split}]", f"  {what}: {stats.samples}, kept: {stats.kept}, dropped: {stats.samples - stats.kept}"]
    lines += [f"    - {count} dropped: {reason}" for reason, count in stats.dropped.items()]
    lines.append(f"  truncated to cutoff_len={cutoff_len}: {stats.truncated}")
    if stats.desirable or stats.undesirable:
        lines.append(f"  labels: {stats.desirable} desirable, {stats.undesirable} undesirable")
    if stats.prompt_lengths:
        lines.append("  tokens per row (prompt + longer answer): " + ", ".join(f"{k} {v}" for k, v in stats.percentiles().items()))
        medians = [f"prompt {_median(stats.prompt_lengths)}", f"{'chosen' if stats.rejected_lengths else 'answer'} "
                   f"{_median(stats.chosen_lengths)}"]
        if stats.rejected_lengths:
            medians.append(f"rejected {_median(stats.rejected_lengths)}")
        lines.append("  median tokens: " + ", ".join(medians))
    return "\n".join(lines)


def format_preference_preview(prepared: PreferenceData, tokenizer: Any, num_samples: int, cutoff_len: int) -> str:
    out = [f"Stage {prepared.stage}. The prompt (not scored) is shown as {MASK_OPEN}...{MASK_CLOSE}; the answers after "
           "it are what the preference loss compares.", ""]
    for split, dataset in _splits(prepared):
        for index in range(min(num_samples, len(dataset))):
            out += format_row(tokenizer, dataset[index], index, split)
        if split in prepared.stats:
            out += [format_preference_stats(prepared.stats[split], cutoff_len), ""]
    return "\n".join(out)


# ---- the online stage (grpo) ------------------------------------------------------------------------
def format_prompt_preview(prepared: PromptData, tokenizer: Any, num_samples: int, cutoff_len: int) -> str:
    import numpy as np

    out = ["GRPO samples its answers while it trains: each row is the prompt the model completes, rendered by the "
           "template (none of it is learned), with the columns its rewards read.", ""]
    for split, dataset in _splits(prepared):
        for index, row in enumerate(islice(dataset, num_samples)):
            out.append(f"=== {split} prompt {index}: {len(row['prompt_ids'])} tokens ===")
            out.append(tokenizer.decode(row["prompt_ids"], skip_special_tokens=False))
            out += [f"--- {column}: {row[column]}" for column in EXTRA_COLUMNS if row.get(column) is not None]
            out.append("")
        lengths = [len(ids) for ids in dataset["prompt_ids"]]
        out.append(f"[{split}]")
        out.append(f"  prompts: {len(lengths)}")
        if lengths:
            values = np.percentile(lengths, [50, 90, 95, 99, 100])
            out.append("  prompt tokens: " + ", ".join(f"{name} {int(value)}" for name, value in
                                                    zip(("p50", "p90", "p95", "p99", "max"), values)))
            out.append(f"  at cutoff_len={cutoff_len} (kept their last {cutoff_len} tokens): "
                       f"{sum(length >= cutoff_len for length in lengths)}")
        out.append("")
    return "\n".join(out)
