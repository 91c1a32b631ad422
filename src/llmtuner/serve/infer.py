"""`llmtuner infer`: answers for a dataset or a file of prompts, written to a resumable JSONL file.

Prompts are rendered exactly as `llmtuner eval` renders its questions (the record's system prompt or
default_system, then the template, then cut from the left to cutoff_len), and the engine decodes as the
evaluator does, so a greedy answer here is the prediction the evaluator stores for the same sample, whether
it was generated alone or in a batch. Requests are kept in flight up to twice max_concurrency, so the engine
always has a next batch waiting; each answer is appended (and flushed) as it finishes, so a stopped run loses
at most what was generating. A rerun skips the ids already answered, and refuses when the settings that decide
the answers changed, or when an id now holds another prompt: one file never mixes two models' answers.
Sampled answers (do_sample) get a seed of their own, from `seed` and the record's id, so each is reproducible
whatever else is in flight or already done; the engine runs seeded requests one at a time, so sampling is
slower than greedy decoding.

Each line: id, prompt (the last user message), answer, finish_reason (stop | length), prompt_tokens,
completion_tokens, latency_s, input_sha256 (of what the model was shown), x_safety (the TCM safety flags,
unless safety: off). The settings sit beside it in `<name>.settings.json`.
"""

import asyncio
import json
import sys
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

from ..eval.store import model_fingerprint, weights_fingerprint
from ..extras.errors import ConfigError, UserError
from ..extras.files import append_jsonl, read_jsonl, write_json, write_jsonl
from ..extras.logging import get_logger
from ..hparams import ServeConfig
from .engine import RequestHandle, ServingEngine, load_serving_engine
from .infer_inputs import InferItem, load_infer_items
from .prompts import render_prompt
from .requests import Completion, GenerationRequest, PromptTooLong, QueueFull, SamplingOptions
from .safety import review_answer, safety_question

logger = get_logger(__name__)
FIX = ("Set overwrite_output: true to start over (the old file is kept as a .bak), or choose another output_file.")


class InferIncomplete(UserError):
    """Some prompts got no answer (a failed batch, a prompt too long for the model): a rerun retries just those."""


def answer_settings(config: ServeConfig) -> dict[str, Any]:
    """What decides the answers (and so must match to resume): model, adapter, template, prompts, decoding."""
    data, generating = config.data, config.generating
    assert config.infer is not None
    settings: dict[str, Any] = {
        "command": "infer", "model": config.model.model_name_or_path,
        "adapter": ",".join(config.model.adapter_name_or_path or []) or None, "template": data.template,
        "default_system": data.default_system, "template_date_string": data.template_date_string,
        "enable_thinking": data.enable_thinking, "cutoff_len": data.cutoff_len,
        "infer_backend": config.serving.infer_backend, "safety": config.serving.safety,
        "seed": config.infer.seed if generating.do_sample else None,  # greedy answers do not depend on it
    }
    settings.update({f"generating.{key}": value for key, value in generating.to_generate_kwargs().items()})
    # by content too: an adapter retrained into the same folder must not resume onto the old one's answers
    settings["model_weights"] = model_fingerprint(config.model.model_name_or_path)
    settings["adapter_weights"] = [weights_fingerprint(path) for path in config.model.adapter_name_or_path or []] or None
    return settings


class AnswerFile:
    """The output JSONL and its settings file: appended as answers finish, read back to resume.

    Not the evaluator's PredictionStore: its refusals name overwrite_predictions, and infer also checks that
    each kept answer was made for the prompt its id holds now (`input_sha256`)."""

    def __init__(self, path: str | Path, overwrite: bool) -> None:
        self.path = Path(path)
        self.meta = self.path.with_name(self.path.stem + ".settings.json")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if overwrite and self.path.exists():  # the old answers are kept aside, never deleted
            stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"  # unique: two restarts a second apart
            kept = self.path.with_name(f"{self.path.stem}.{stamp}{self.path.suffix}.bak")
            self.path.rename(kept)
            if self.meta.exists():
                self.meta.rename(self.path.with_name(f"{self.path.stem}.{stamp}.settings.json.bak"))
            logger.info("Previous answers moved to %s.", kept)

    def check_settings(self, settings: dict[str, Any]) -> None:
        """Refuse to resume answers made otherwise; record the settings for the next run."""
        if self.path.exists() and not self.meta.exists():
            raise ConfigError(f"output_file {self.path} exists but `llmtuner infer` did not write it (no {self.meta.name} "
                              f"beside it); resuming onto it could mix or lose another run's results. {FIX}")
        if self.path.exists():
            before = json.loads(self.meta.read_text(encoding="utf-8"))
            changed = [f"{key}: {before.get(key)!r} -> {value!r}" for key, value in settings.items() if before.get(key) != value]
            changed += [f"{key}: {before[key]!r} -> (not set)" for key in before if key not in settings]
            if changed:
                raise ConfigError(f"output_file {self.path} holds answers made with other settings ({'; '.join(changed)}); "
                                  f"resuming would mix them. {FIX}")
        write_json(self.meta, settings)

    def load(self) -> dict[str, dict[str, Any]]:
        return {str(record["id"]): record for record in read_jsonl(self.path)} if self.path.exists() else {}

    def append(self, record: dict[str, Any]) -> None:
        append_jsonl(self.path, [record])

    def rewrite(self, records: list[dict[str, Any]]) -> None:
        write_jsonl(self.path, records)


def check_kept_answers(items: list[InferItem], done: dict[str, dict[str, Any]], path: Path) -> None:
    """An id answered before must still hold the same prompt (an edited input file would silently keep old answers)."""
    moved = [item.id for item in items if item.id in done and done[item.id].get("input_sha256") != item.fingerprint()]
    if moved:
        shown = ", ".join(map(repr, moved[:5])) + (f" and {len(moved) - 5} more" if len(moved) > 5 else "")
        raise ConfigError(f"output_file {path} holds answers for {len(moved)} id(s) whose prompt has changed since ({shown}); "
                          f"resuming would keep answers to the old prompts. {FIX}")


def run_infer(config: ServeConfig) -> dict[str, int]:
    """Answer every prompt not yet in output_file; returns counts (total, kept, generated, failed, truncated)."""
    assert config.infer is not None
    if config.serving.adapters:
        raise ConfigError("adapters: infer answers with one model, the base with adapter_name_or_path merged in; "
                          "pass the adapter as --adapter_name_or_path (one run per adapter, each to its own output_file).")
    items = load_infer_items(config)  # the whole input is checked before the model loads
    store = AnswerFile(config.infer.output_file or "", config.infer.overwrite_output)
    store.check_settings(answer_settings(config))
    done = store.load()
    check_kept_answers(items, done, store.path)
    todo = [item for item in items if item.id not in done]
    counts = {"total": len(items), "kept": len(items) - len(todo), "generated": 0, "failed": 0, "truncated": 0}
    if counts["kept"]:
        logger.info("Resuming: %d of %d answers already in %s.", counts["kept"], len(items), store.path)
    if not todo:
        logger.info("Nothing to do: every prompt already has its answer in %s.", store.path)
        return counts
    engine = load_serving_engine(config)
    try:
        asyncio.run(_answer_all(config, engine, todo, store, done, counts))
    except KeyboardInterrupt:  # every finished answer is already in the file: say how to go on, no traceback
        raise InferIncomplete(f"stopped with {counts['generated']} new answers in {store.path}; run the same command "
                              "again to continue.") from None
    finally:
        engine.close()
    order = {item.id: index for index, item in enumerate(items)}  # the file in input order, for reading and diffing
    store.rewrite(sorted(done.values(), key=lambda record: order.get(str(record["id"]), len(order))))
    logger.info("%d answers written to %s (%d kept from before).", counts["generated"], store.path, counts["kept"])
    if counts["failed"]:
        raise InferIncomplete(f"{counts['failed']} of {len(todo)} prompts got no answer (see the warnings above); the "
                              f"others are in {store.path}. Run the same command again to retry those.")
    return counts


def _prompts(config: ServeConfig, engine: ServingEngine, items: list[InferItem], counts: dict[str, int]) -> list[list[int]]:
    """The evaluator's prompt ids (qa_prompt): system or default_system, the template, the last cutoff_len tokens."""
    data = config.data
    prompts = []
    for item in items:
        ids = render_prompt(engine.template, engine.tokenizer, item.system, item.turns, data.default_system,
                            data.enable_thinking)
        counts["truncated"] += len(ids) > data.cutoff_len
        prompts.append(ids[-data.cutoff_len :])  # keep the end: the question
    if counts["truncated"]:
        logger.warning("%d of %d prompts are longer than cutoff_len %d and were cut from the left (as `llmtuner eval` "
                       "cuts them): the model does not see their beginning. Raise cutoff_len to keep them whole.",
                       counts["truncated"], len(items), data.cutoff_len)
    return prompts


def _options(config: ServeConfig, item: InferItem) -> SamplingOptions:
    assert config.infer is not None
    seed = None
    if config.generating.do_sample:  # per record: its answer does not depend on what else is in flight
        seed = zlib.crc32(f"{config.infer.seed}:{item.id}".encode()) & 0x7FFFFFFF
    return SamplingOptions.from_arguments(config.generating, seed=seed)


async def _answer_all(config: ServeConfig, engine: ServingEngine, items: list[InferItem], store: AnswerFile,
                      done: dict[str, dict[str, Any]], counts: dict[str, int]) -> None:
    from tqdm import tqdm

    serving = config.serving
    limit = max(1, min(2 * serving.max_concurrency, serving.max_concurrency + serving.max_queue))
    pending: dict[asyncio.Future[Completion], tuple[InferItem, RequestHandle]] = {}
    progress = tqdm(total=counts["total"], initial=counts["kept"], desc="Answering", unit="answer", file=sys.stderr)

    async def settle(wait_all: bool = False) -> None:
        finished, _ = await asyncio.wait(pending, return_when=asyncio.ALL_COMPLETED if wait_all else asyncio.FIRST_COMPLETED)
        for task in finished:
            item, _ = pending.pop(task)
            record = _record(config, item, task.result(), counts)
            if record is not None:
                store.append(record)
                done[item.id] = record
            progress.update(1)

    try:
        for item, ids in zip(items, _prompts(config, engine, items, counts)):
            while len(pending) >= limit:
                await settle()
            request = GenerationRequest(ids, _options(config, item))
            while True:
                try:
                    handle = engine.submit(request)
                    pending[asyncio.ensure_future(handle.result())] = (item, handle)
                    break
                except QueueFull:  # another client of the engine (none today) filled its queue: wait for room
                    await (settle() if pending else asyncio.sleep(0.1))
                except PromptTooLong as error:
                    logger.warning("Prompt %r gets no answer: %s Set cutoff_len below the model's context (%d tokens).",
                                   item.id, error, engine.context_length)
                    counts["failed"] += 1
                    progress.update(1)
                    break
        if pending:
            await settle(wait_all=True)
    finally:  # stopped (Ctrl-C): what is generating is dropped, what finished is in the file
        for task, (_, handle) in pending.items():
            handle.cancel()
            task.cancel()
        progress.close()


def _record(config: ServeConfig, item: InferItem, completion: Completion, counts: dict[str, int]) -> dict[str, Any] | None:
    """The output line of one answer, or None (counted as failed) when generation did not finish."""
    if completion.finish_reason in ("error", "cancelled"):
        logger.warning("Prompt %r gets no answer: %s.", item.id, completion.error or completion.finish_reason)
        counts["failed"] += 1
        return None
    counts["generated"] += 1
    record: dict[str, Any] = {"id": item.id, "prompt": item.prompt, "answer": completion.text,
                              "finish_reason": completion.finish_reason, "prompt_tokens": completion.prompt_tokens,
                              "completion_tokens": completion.completion_tokens,
                              "latency_s": round(completion.latency_s, 3), "input_sha256": item.fingerprint()}
    mode = config.serving.safety
    if mode != "off":
        review = review_answer(mode, completion.text, safety_question(item.turns))
        record["answer"] = review.text  # refuse: the warning instead of a flagged answer
        record["x_safety"] = review.flags
    return record
