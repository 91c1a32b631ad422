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
from ..hparams import EvalArguments
from .items import QaItem, load_qa_items
from .mcq_task import run_mcq
from .store import PredictionStore, write_json

logger = get_logger(__name__)
THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)


def load_for_eval(args: EvalArguments) -> tuple[Any, Any, Any]:
    """(model, tokenizer, template): base + adapters merged, eval mode, on the GPU when there is one."""
    import torch

    from ..data.template import get_template
    from ..hparams import FinetuningArguments
    from ..model.adapter import init_adapter
    from ..model.loader import load_model, load_tokenizer

    tokenizer = load_tokenizer(args.model)
    template = get_template(args.data.template) if args.data.template else None
    if template is not None:
        template.fix_tokenizer(tokenizer)  # also the model/template mismatch check, before any weights load
    elif tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = load_model(args.model, tokenizer, is_trainable=False)
    if args.model.adapter_name_or_path:
        model = init_adapter(model, args.model, FinetuningArguments(finetuning_type="lora"), is_trainable=False)
    if torch.cuda.is_available() and args.model.quantization_bit is None:
        model = model.to("cuda")
    return model.eval(), tokenizer, template


def generation_settings(args: EvalArguments) -> dict[str, Any]:
    """What decides an answer; batch_size and max_samples do not (greedy answers do not depend on them)."""
    return {"task": args.eval.task, "model": args.model.model_name_or_path, "adapter": args.model.adapter_name_or_path,
            "template": args.data.template, "eval_dataset": args.data.eval_dataset, "dataset_dir": args.data.dataset_dir,
            "default_system": args.data.default_system, "cutoff_len": args.data.cutoff_len,
            "enable_thinking": args.data.enable_thinking, "mcq_method": args.eval.mcq_method,
            "generating": args.generating.to_generate_kwargs(), "seed": args.eval.seed}


def _prompt(template: Any, tokenizer: Any, item: QaItem, args: EvalArguments) -> list[int]:
    system = item.system if item.system is not None else args.data.default_system
    ids = template.encode_prompt(tokenizer, item.messages, system=system, enable_thinking=args.data.enable_thinking)
    return ids[-args.data.cutoff_len :]  # keep the end: the question


def generate_qa(args: EvalArguments, items: list[QaItem], store: PredictionStore) -> list[dict[str, Any]]:
    """Answers for every item, reusing those already in the store; returns records in item order."""
    from tqdm import tqdm

    from .generate import generate_batches

    store.check_settings(generation_settings(args))
    done = store.load()
    todo = [item for item in items if item.id not in done]
    if done:
        logger.info("Resuming: %d of %d answers already in %s.", len(items) - len(todo), len(items), store.path)
    if todo:
        model, tokenizer, template = load_for_eval(args)
        prompts = [_prompt(template, tokenizer, item, args) for item in todo]
        progress = tqdm(total=len(todo), desc="Generating", unit="answer")
        for batch in generate_batches(model, tokenizer, prompts, args.generating.to_generate_kwargs(),
                                      args.eval.batch_size, template.stop_token_ids(tokenizer), args.eval.seed):
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


def run_qa(args: EvalArguments) -> dict[str, Any]:
    from .qa_scoring import score_qa

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
    metrics = score_qa(records, args)
    store.rewrite(records)
    return metrics


def run_ppl(args: EvalArguments) -> dict[str, Any]:
    """exp(total NLL / total predicted tokens) over cutoff_len blocks of every text (+EOS), as PT eval does."""
    import torch

    from ..data.collator import SupervisedCollator
    from .items import load_texts

    texts = load_texts(args.data)
    model, tokenizer, _ = load_for_eval(args)
    eos = tokenizer.eos_token or ""
    records = []
    collate = SupervisedCollator(tokenizer.pad_token_id)
    for item in texts:
        ids = tokenizer(item.text + eos, add_special_tokens=False)["input_ids"]
        blocks = [ids[start : start + args.data.cutoff_len] for start in range(0, len(ids), args.data.cutoff_len)]
        nll, tokens = 0.0, 0
        for start in range(0, len(blocks), args.eval.batch_size):
            batch = collate([{"input_ids": block} for block in blocks[start : start + args.eval.batch_size]])
            with torch.no_grad():
                logits = model(input_ids=batch["input_ids"].to(model.device),
                               attention_mask=batch["attention_mask"].to(model.device)).logits.float()
            labels = batch["labels"][:, 1:].to(logits.device)
            losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), labels, ignore_index=-100, reduction="sum")
            nll += float(losses)
            tokens += int((labels != -100).sum())
        records.append({"id": item.id, "category": item.category, "nll": nll, "tokens": tokens,
                        "perplexity": math.exp(min(nll / max(tokens, 1), 50.0))})
    def perplexity(selected: list[dict[str, Any]]) -> float:
        nll, tokens = sum(r["nll"] for r in selected), sum(r["tokens"] for r in selected)
        return round(math.exp(min(nll / max(tokens, 1), 50.0)), 4)

    categories = sorted({record["category"] for record in records})
    metrics = {"task": "ppl", "samples": len(records), "tokens": sum(r["tokens"] for r in records),
               "overall": {"perplexity": perplexity(records)},
               "by_category": {c: {"perplexity": perplexity([r for r in records if r["category"] == c])} for c in categories}}
    PredictionStore(Path(args.eval.output_dir) / "predictions.jsonl").rewrite(records)
    return metrics


TASKS: dict[str, Callable[[EvalArguments], dict[str, Any]]] = {"qa": run_qa, "mcq": run_mcq, "ppl": run_ppl}


def run_evaluation(args: EvalArguments) -> dict[str, Any]:
    """Run the task, write metrics.json, report.md and the chart; returns the metrics."""
    from .report import compare_reports, write_report

    if args.eval.compare:
        first, second = args.eval.compare.split(",")
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
