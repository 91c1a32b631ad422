"""The `mcq` task: exam questions scored by option-letter likelihood or by parsing generated answers."""

from pathlib import Path
from typing import Any

from ..hparams import EvalConfig
from .items import load_mcq_rows
from .mcq_answers import McqItem, encode_mcq_prompt, likelihood_results, load_mcq_items, mcq_letter_ids, parse_answer, score_items
from .store import SETTINGS_ADDED_LATER, PredictionStore, generation_settings, item_key


def _items(args: EvalConfig) -> list[McqItem]:
    items: list[McqItem] = []
    by_source: dict[str, list[dict[str, Any]]] = {}
    for source, row in load_mcq_rows(args.data):
        by_source.setdefault(source, []).append(row)
    for source, rows in by_source.items():
        items += load_mcq_items(rows, source)
    return items


def run_mcq(args: EvalConfig) -> dict[str, Any]:
    from tqdm import tqdm

    from .engine import load_engine

    items = _items(args)
    store = PredictionStore(Path(args.eval.output_dir) / "predictions.jsonl", overwrite=args.eval.overwrite_predictions)
    store.check_settings(generation_settings(args), SETTINGS_ADDED_LATER)
    keys = {item.id: _key(item) for item in items}
    by_id = {item.id: item for item in items}

    def legacy(record: dict[str, Any], item_id: str) -> bool:  # a record of an earlier version: no item_key
        return (record.get("question"), record.get("answer")) == (by_id[item_id].question, by_id[item_id].answer)

    done = store.load_unchanged(keys, legacy)
    todo = [item for item in items if item.id not in done]
    if todo:
        engine = load_engine(args)
        tokenizer, template, system = engine.tokenizer, engine.template, args.data.default_system
        progress = tqdm(total=len(todo), desc="Scoring" if args.eval.mcq_method == "likelihood" else "Generating", unit="question")
        if args.eval.mcq_method == "likelihood":
            letter_ids, token_ids = mcq_letter_ids(tokenizer, todo)
            for start in range(0, len(todo), args.eval.batch_size * 8):  # stored in slices: a stop loses little
                chunk = todo[start : start + args.eval.batch_size * 8]
                prompts = [encode_mcq_prompt(tokenizer, template, item, system) for item in chunk]
                results = likelihood_results(chunk, letter_ids, token_ids, engine.next_token_scores(prompts, token_ids))
                store.append([_record(item, result["prediction"], probs=result["probs"]) for item, result in zip(chunk, results)])
                progress.update(len(chunk))
        else:
            prompts = [encode_mcq_prompt(tokenizer, template, item, system, args.data.enable_thinking) for item in todo]
            for batch in engine.generate(prompts):
                store.append([_record(todo[i], parse_answer(text, todo[i].options), generation=text) for i, text in batch])
                progress.update(len(batch))
        progress.close()
        done = store.load_unchanged(keys, legacy)
    records = [done[item.id] for item in items]
    summary = score_items(items, [record["prediction"] for record in records])
    categories = {name: {"samples": values["total"], "accuracy": values["accuracy"]} for name, values in summary["categories"].items()}
    worst = [{"id": r["id"], "category": r["category"], "answer": r["answer"], "prediction": r["prediction"] or "(none)",
              "question": r["question"]} for r in records if r["prediction"] != r["answer"]]
    return {
        "task": "mcq", "method": args.eval.mcq_method, "samples": len(items),
        "overall": {"accuracy": summary["accuracy"], "parse_failure_rate": summary["parse_failure_rate"]},
        "by_category": categories, "correct": summary["correct"], "parse_failures": summary["parse_failures"],
        "worst": worst[: args.eval.worst_samples],
    }


def _key(item: McqItem) -> str:
    """What an answer is made from and scored against: id, question, options and the correct letters."""
    return item_key(item.id, item.question, item.options, item.answer)


def _record(item: McqItem, prediction: str | None, **extra: Any) -> dict[str, Any]:
    return {"id": item.id, "category": item.category, "question": item.question, "answer": item.answer,
            "prediction": prediction, "correct": prediction == item.answer, "item_key": _key(item), **extra}
