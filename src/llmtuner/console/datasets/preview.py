"""The first rows of a dataset as the model will see them, and its token statistics, through the training data
path itself (parse_train_args → the stage's tokenizer and template → data.pipeline / data.preference), exactly
as `llmtuner preview` does. Each row comes as segments of decoded text marked `learned` (label ≠ -100) or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...extras.constants import IGNORE_INDEX

STAGE_OF_FORMAT = {"alpaca": "sft", "sharegpt": "sft", "text": "pt", "preference": "dpo", "kto": "kto"}


def segments(tokenizer: Any, input_ids: list[int], labels: list[int]) -> list[dict[str, Any]]:
    """Runs of tokens that are learned or not, decoded (the same spans data.preview wraps in ⟦ ⟧)."""
    out: list[dict[str, Any]] = []
    run: list[int] = []
    learned: bool | None = None
    for token, label in zip(input_ids, labels):
        now = label != IGNORE_INDEX
        if learned is not None and now != learned:
            out.append({"text": tokenizer.decode(run, skip_special_tokens=False), "learned": learned})
            run = []
        learned = now
        run.append(token)
    if run:
        out.append({"text": tokenizer.decode(run, skip_special_tokens=False), "learned": bool(learned)})
    return out


def _stats(stats: Any) -> dict[str, Any]:
    lengths = list(stats.lengths)
    return {"samples": stats.samples, "kept": stats.kept, "dropped": dict(stats.dropped), "truncated": stats.truncated,
            "tokens": stats.percentiles(), "total_tokens": int(sum(lengths))}


def build_preview(name: str, fmt: str, datasets_dir: Path, cache_dir: Path, model: dict[str, str], template: str | None,
                  cutoff_len: int, rows: int, max_samples: int) -> dict[str, Any]:
    from ...hparams import parse_train_args
    from ...train.preamble import load_tokenizer_and_template

    stage = STAGE_OF_FORMAT[fmt]
    config = parse_train_args(config={**model, "stage": stage, "template": template, "dataset": name,
                                      "dataset_dir": str(datasets_dir), "cutoff_len": cutoff_len,
                                      "max_samples": max_samples}, command="preview")
    tokenizer, chat_template = load_tokenizer_and_template(config)
    out: list[dict[str, Any]] = []
    if stage in ("dpo", "kto"):
        from ...data.preference import prepare_preference

        prepared = prepare_preference(tokenizer, config.data, stage, chat_template, seed=42, cache_dir=str(cache_dir))
        for index, row in enumerate(prepared.train):
            if index >= rows:
                break
            prompt = list(row["prompt_ids"])
            answers = [("chosen", "chosen_ids"), ("rejected", "rejected_ids")] if stage == "dpo" else \
                [("chosen" if row["label"] else "rejected", "completion_ids")]
            for label, column in answers:
                answer = list(row[column])
                out.append({"index": index, "answer": label, "num_tokens": len(prompt) + len(answer),
                            "segments": segments(tokenizer, prompt + answer, [IGNORE_INDEX] * len(prompt) + answer)})
    else:
        from ...data.pipeline import prepare_datasets

        prepared = prepare_datasets(tokenizer, config.data, stage, template=chat_template, seed=42, cache_dir=str(cache_dir))
        for index, row in enumerate(prepared.train):
            if index >= rows:
                break
            out.append({"index": index, "answer": None, "num_tokens": len(row["input_ids"]),
                        "segments": segments(tokenizer, list(row["input_ids"]), list(row["labels"]))})
    return {"dataset": name, "format": fmt, "stage": stage, "template": template, "cutoff_len": cutoff_len,
            "rows": out, "stats": _stats(prepared.stats["train"])}
