"""`llmtuner eval` / `python src/evaluate.py`: one function per task, looked up by name.

qa:  generate answers (resumable) -> ROUGE/BLEU, terminology accuracy, TCM safety flags.
mcq: option-letter likelihood (or generation + answer parsing) -> accuracy per category.
ppl: token-weighted perplexity on held-out text.
Every task writes predictions.jsonl, metrics.json, report.md and a per-category chart to output_dir.
"""

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..extras.errors import DataError
from ..extras.logging import get_logger
from ..hparams import EvalConfig
from .items import QaItem, load_qa_items
from .mcq_task import run_mcq
from .store import SETTINGS_ADDED_LATER, PredictionStore, generation_settings, write_json

logger = get_logger(__name__)
THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)


TEXTS_PER_CALL = 64  # ppl: texts whose blocks go to the engine together
def _prompt(template: Any, tokenizer: Any, item: QaItem, args: EvalConfig) -> list[int]:
    system = item.system if item.system is not None else args.data.default_system
    ids = template.encode_prompt(tokenizer, item.messages, system=system, enable_thinking=args.data.enable_thinking)
    return ids[-args.data.cutoff_len :]  # keep the end: the question


def generate_qa(args: EvalConfig, items: list[QaItem], store: PredictionStore) -> list[dict[str, Any]]:
    """Answers for every item, reusing those already in the store; returns records in item order."""
    from tqdm import tqdm

    from .engine import load_engine

    store.check_settings(generation_settings(args), SETTINGS_ADDED_LATER)
    done = store.load()
    todo = [item for item in items if item.id not in done]
    if done:
        logger.info("Resuming: %d of %d answers already in %s.", len(items) - len(todo), len(items), store.path)
    if todo:
        engine = load_engine(args)
        prompts = [_prompt(engine.template, engine.tokenizer, item, args) for item in todo]
        progress = tqdm(total=len(todo), desc="Generating", unit="answer")
        for batch in engine.generate(prompts):
            records = [{"id": todo[i].id, "category": todo[i].category, "question": todo[i].question,
                        "reference": todo[i].reference, "prediction": answer} for i, answer in batch]
            store.append(records)
            done.update({record["id"]: record for record in records})
            progress.update(len(batch))
        progress.close()
    return [done[item.id] for item in items]


PREDICTION_FIELDS = {"question": ("question", "prompt"), "reference": ("reference", "label"), "prediction": ("prediction", "predict")}


def read_predictions_file(path: str) -> list[dict[str, Any]]:
    """Predictions made elsewhere (this tool, LLaMA-Factory, vLLM, an API), one JSON object per line."""
    if not Path(path).is_file():
        raise DataError(f"predictions_file {path} does not exist.")
    records = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path} line {number}: not valid JSON ({error.msg}). Fix or remove the line.") from None
        record = {"id": str(row.get("id", f"line-{number}")), "category": str(row.get("category") or "all")}
        for field, names in PREDICTION_FIELDS.items():
            value = next((row[name] for name in names if name in row), None)
            if value is None and field != "question":
                raise DataError(f"{path} line {number}: no {' or '.join(map(repr, names))} field. "
                                f"Each line needs the {field} under one of these names.")
            record[field] = "" if value is None else str(value)
        records.append(record)
    if not records:
        raise DataError(f"predictions_file {path} holds no predictions.")
    return records


def run_qa(args: EvalConfig) -> dict[str, Any]:
    from .qa_scoring import lexicon_paths, score_qa
    from .terms import TermLexicon

    lexicon = TermLexicon.load(lexicon_paths(args))  # a bad lexicon line fails now, not after generation
    target = Path(args.eval.output_dir) / "predictions.jsonl"
    if args.eval.predictions_file:
        records = read_predictions_file(args.eval.predictions_file)  # before the store may move the file aside
        rescoring_in_place = target.exists() and target.resolve() == Path(args.eval.predictions_file).resolve()
        # the scored copy replaces predictions.jsonl: a different one already there (an earlier run's) is kept aside
        store = PredictionStore(target, overwrite=target.exists() and not rescoring_in_place)
    else:
        store = PredictionStore(target, overwrite=args.eval.overwrite_predictions)
        records = generate_qa(args, load_qa_items(args.data), store)
    for record in records:
        record["prediction"] = THINK_BLOCK.sub("", record["prediction"]).strip()  # score the answer, not the reasoning
    metrics = score_qa(records, args, lexicon)
    store.rewrite(records)
    return metrics


def run_ppl(args: EvalConfig) -> dict[str, Any]:
    """exp(total NLL / total predicted tokens) over cutoff_len blocks of every text (+EOS), as PT eval does."""
    from tqdm import tqdm

    from .engine import load_engine
    from .items import load_texts

    texts = load_texts(args.data)
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
    PredictionStore(Path(args.eval.output_dir) / "predictions.jsonl").rewrite(records)
    return metrics


TASKS: dict[str, Callable[[EvalConfig], dict[str, Any]]] = {"qa": run_qa, "mcq": run_mcq, "ppl": run_ppl}


def run_evaluation(args: EvalConfig) -> dict[str, Any]:
    """Run the task, write metrics.json, report.md and the chart; returns the metrics."""
    from .report import compare_reports, write_report

    if args.eval.compare:
        first, second = args.eval.compare
        return compare_reports(first, second, args.eval.output_dir)
    from transformers import set_seed

    set_seed(args.eval.seed)
    metrics = TASKS[args.eval.task](args)
    metrics["run"] = {"model": args.model.model_name_or_path, "adapter": args.model.adapter_name_or_path,
                      "template": args.data.template, "eval_dataset": args.data.eval_dataset,
                      "predictions_file": args.eval.predictions_file}
    output_dir = Path(args.eval.output_dir)
    write_json(output_dir / "metrics.json", metrics)
    write_report(output_dir, metrics, args.eval.worst_samples)
    logger.info("Evaluation written to %s: %s", output_dir, json.dumps(metrics["overall"], ensure_ascii=False))
    return metrics
