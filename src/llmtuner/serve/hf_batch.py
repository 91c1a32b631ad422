"""One batched transformers generate() for several requests, each with its own stop strings, token budget,
cancel flag, log-probabilities and LoRA adapter.

generate() runs until every row is done; `RowTracker`, a stopping criterion, sees each new token of each row,
streams its text and tells generate() which rows are finished. Rows are left-padded as the evaluator pads them
and the decoding keywords are the evaluator's, so a greedy answer here is the answer `llmtuner eval` stores.
"""

import time
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from ..data.collator import GenerationCollator
from .detokenize import Row
from .requests import Completion, Event, TokenLogprob
from .scheduler import Job
from .token_bytes import TokenBytes

BASE_ADAPTER = "__base__"  # peft's name for "no adapter" in mixed-adapter batches


class RowTracker(StoppingCriteria):
    """Called by generate() after every step with all ids so far: hands each row its new token and says which
    rows are finished (generate() pads those from then on and stops when none is left)."""

    def __init__(self, rows: list[Row], recorder: "LogprobRecorder | None") -> None:
        self.rows, self.recorder = rows, recorder

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        new_tokens = input_ids[:, -1].tolist()
        for index, (row, token) in enumerate(zip(self.rows, new_tokens)):
            if row.done:
                continue
            row.add(token, self.recorder.take(index, token) if self.recorder else None)
            piece = row.pending_text()
            if piece or (row.logprobs and row.options.logprobs is not None):
                row.job.sink(Event(text=piece, logprobs=tuple(row.logprobs[-1:]) if row.options.logprobs is not None else ()))
        return torch.tensor([row.done for row in self.rows], dtype=torch.bool, device=input_ids.device)


class LogprobRecorder(LogitsProcessor):
    """Keeps each step's log-softmax for rows that asked for log-probabilities. It runs among generate()'s logits
    processors (after repetition penalty, before temperature and top-p), so these are the model's probabilities."""

    def __init__(self, rows: list[Row], tokenizer: Any) -> None:
        self.wanted = [index for index, row in enumerate(rows) if row.options.logprobs is not None]
        self.top = {index: rows[index].options.logprobs or 0 for index in self.wanted}
        self.pieces = TokenBytes(tokenizer)
        self.last: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.last = torch.log_softmax(scores[self.wanted].float(), dim=-1)
        return scores

    def take(self, index: int, token: int) -> TokenLogprob | None:
        if self.last is None or index not in self.top:
            return None
        values = self.last[self.wanted.index(index)]
        top: tuple[tuple[int, str, float, bytes], ...] = ()
        pieces = self.pieces
        if self.top[index]:
            best = torch.topk(values, self.top[index])
            top = tuple((int(i), pieces.text(int(i)), float(v), pieces.of(int(i))) for v, i in zip(best.values, best.indices))
        return TokenLogprob(token, pieces.text(token), float(values[token]), top, pieces.of(token))


def generate_batch(model: Any, tokenizer: Any, jobs: list[Job], stop_ids: list[int], pad_id: int,
                   adapter_names: list[str] | None = None) -> None:
    """Run `jobs` (same decoding key) as one left-padded batch; every job's sink gets its events and Completion."""
    rows = [Row(job, tokenizer, set(stop_ids)) for job in jobs]
    options = jobs[0].request.options
    batch = GenerationCollator(pad_id)([{"input_ids": job.request.prompt_ids} for job in jobs])
    inputs = {key: batch[key].to(model.device) for key in ("input_ids", "attention_mask")}
    recorder = LogprobRecorder(rows, tokenizer) if any(row.options.logprobs is not None for row in rows) else None
    extra: dict[str, Any] = {"adapter_names": adapter_names} if adapter_names else {}
    if recorder:
        extra["logits_processor"] = LogitsProcessorList([recorder])
    if options.seed is not None:
        torch.manual_seed(options.seed)  # a seeded request runs alone (batch_key), so the seed decides its answer
    with torch.no_grad():
        model.generate(**inputs, **options.generate_kwargs(max(row.options.max_new_tokens for row in rows)), **extra,
                       eos_token_id=stop_ids, pad_token_id=pad_id, use_cache=True,
                       stopping_criteria=StoppingCriteriaList([RowTracker(rows, recorder)]))
    now = time.monotonic()
    for row in rows:
        request = row.job.request
        reason = row.finish_reason or "length"
        text = row.final_text() if reason != "cancelled" else row.text.strip()
        if text[row.sent :] and text.startswith(row.text[: row.sent]):
            row.job.sink(Event(text=text[row.sent :]))
        row.job.sink(Event(completion=Completion(
            text=text, finish_reason=reason, prompt_tokens=len(request.prompt_ids), completion_tokens=len(row.tokens),
            token_ids=tuple(row.tokens), logprobs=tuple(row.logprobs) if row.options.logprobs is not None else None,
            queue_s=row.job.started - request.created, latency_s=now - request.created)))
