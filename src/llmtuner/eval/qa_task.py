"""The `qa` task: generate answers (resumable) or read them from a file, then score them.

Scores: Chinese ROUGE-1/2/L and BLEU-4, terminology accuracy against the lexicon, TCM safety flags
(`qa_scoring.py`). Answers are scored as written, surrounding whitespace included (LLaMA-Factory's recipe);
only a `<think>…</think>` reasoning block is removed. Answers our engines generate are stored without the
whitespace around them (decoding), so a predictions file written elsewhere is scored exactly as it reads.
"""

import json
import re
from pathlib import Path
from typing import Any

from ..extras.errors import DataError
from ..extras.logging import get_logger
from ..hparams import EvalConfig
from .items import QaItem, load_qa_items
from .store import SETTINGS_ADDED_LATER, PredictionStore, generation_settings, item_key

logger = get_logger(__name__)
# The reasoning block and the blank lines after it, as Qwen3's own template drops them from history.
THINK_BLOCK = re.compile(r"<think>.*?</think>\n*", re.DOTALL)


def qa_prompt(template: Any, tokenizer: Any, item: QaItem, args: EvalConfig) -> list[int]:
    """The prompt token ids for one question: the item's system prompt (or the default), cut from the left."""
    system = item.system if item.system is not None else args.data.default_system
    ids = template.encode_prompt(tokenizer, item.messages, system=system, enable_thinking=args.data.enable_thinking)
    return ids[-args.data.cutoff_len :]  # keep the end: the question


def qa_item_key(item: QaItem) -> str:
    """What an answer is made from: the id, the whole conversation, the system prompt and the reference it is scored on."""
    return item_key(item.id, item.messages, item.system, item.reference)


def generate_qa(args: EvalConfig, items: list[QaItem], store: PredictionStore) -> list[dict[str, Any]]:
    """Answers for every item, reusing those already in the store; returns records in item order."""
    from tqdm import tqdm

    from .engine import load_engine

    store.check_settings(generation_settings(args), SETTINGS_ADDED_LATER)
    keys = {item.id: qa_item_key(item) for item in items}
    by_id = {item.id: item for item in items}
    done = store.load_unchanged(keys, lambda record, item_id: (record.get("question"), record.get("reference")) == (
        by_id[item_id].question, by_id[item_id].reference))
    todo = [item for item in items if item.id not in done]
    if done:
        logger.info("Resuming: %d of %d answers already in %s.", len(items) - len(todo), len(items), store.path)
    if todo:
        engine = load_engine(args)
        prompts = [qa_prompt(engine.template, engine.tokenizer, item, args) for item in todo]
        progress = tqdm(total=len(todo), desc="Generating", unit="answer")
        for batch in engine.generate(prompts):
            records = [{"id": todo[i].id, "category": todo[i].category, "question": todo[i].question,
                        "reference": todo[i].reference, "prediction": answer, "item_key": keys[todo[i].id]}
                       for i, answer in batch]
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
        # a later generating run must not take these answers for its own and resume onto them
        store.record_settings({"task": "qa", "predictions_file": str(Path(args.eval.predictions_file).resolve())})
    else:
        store = PredictionStore(target, overwrite=args.eval.overwrite_predictions)
        records = generate_qa(args, load_qa_items(args.data), store)
    for record in records:
        record["prediction"] = THINK_BLOCK.sub("", record["prediction"])  # the answer as written, not the reasoning
        if args.data.deidentify:  # a model can echo what its prompt held; a predictions file may hold anything
            from ..data.deidentify import deidentify_messages

            fields = ("question", "reference", "prediction")
            # one document: a name found in the question is also removed where the answer repeats it
            scrubbed, _ = deidentify_messages([{"role": "user", "content": record[field]} for field in fields])
            record.update({field: message["content"] for field, message in zip(fields, scrubbed)})
    metrics = score_qa(records, args, lexicon)
    store.rewrite(records)
    return metrics
