"""The `ppl` task: token-weighted perplexity on held-out text, over cutoff_len blocks as PT evaluation does."""

import math
from pathlib import Path
from typing import Any

from ..hparams import EvalConfig
from .store import SETTINGS_ADDED_LATER, PredictionStore, generation_settings

TEXTS_PER_CALL = 64  # texts whose blocks go to the engine together


def run_ppl(args: EvalConfig) -> dict[str, Any]:
    """exp(total NLL / total predicted tokens) over cutoff_len blocks of every text (+EOS), as PT eval does."""
    from tqdm import tqdm

    from .engine import load_engine
    from .items import load_texts

    texts = load_texts(args.data)
    # before the model loads: never replace another task's or another model's predictions in this folder
    store = PredictionStore(Path(args.eval.output_dir) / "predictions.jsonl", overwrite=args.eval.overwrite_predictions)
    store.check_settings(generation_settings(args), SETTINGS_ADDED_LATER)
    engine = load_engine(args)
    tokenizer = engine.tokenizer
    eos = tokenizer.eos_token or ""
    records = []
    progress = tqdm(total=len(texts), desc="Perplexity", unit="text")
    for first in range(0, len(texts), TEXTS_PER_CALL):  # blocks of many texts per call: the engine batches them
        chunk = texts[first : first + TEXTS_PER_CALL]
        blocks, counts = [], []
        for item in chunk:
            ids = tokenizer(item.text + eos, add_special_tokens=False)["input_ids"]
            own = [ids[start : start + args.data.cutoff_len] for start in range(0, len(ids), args.data.cutoff_len)]
            blocks += own
            counts.append(len(own))
        scored = iter(engine.sequence_nll(blocks))
        for item, count in zip(chunk, counts):
            mine = [next(scored) for _ in range(count)]
            nll, tokens = sum(value for value, _ in mine), sum(n for _, n in mine)
            records.append({"id": item.id, "category": item.category, "nll": nll, "tokens": tokens,
                            "perplexity": math.exp(min(nll / max(tokens, 1), 50.0))})
        progress.update(len(chunk))
    progress.close()

    def perplexity(selected: list[dict[str, Any]]) -> float:
        nll, tokens = sum(r["nll"] for r in selected), sum(r["tokens"] for r in selected)
        return round(math.exp(min(nll / max(tokens, 1), 50.0)), 4)

    categories = sorted({record["category"] for record in records})
    metrics = {"task": "ppl", "samples": len(records), "tokens": sum(r["tokens"] for r in records),
               "overall": {"perplexity": perplexity(records)},
               "by_category": {c: {"perplexity": perplexity([r for r in records if r["category"] == c])} for c in categories}}
    store.rewrite(records)
    return metrics
