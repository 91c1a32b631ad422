"""The generations of one chat request (its n choices) as the routes see them: submitted together, read by
one task each, and counted (metrics, the request's record) when each completion arrives.

A client that leaves only cancels the engine's requests; the reading tasks go on until the engine answers
with the `cancelled` completion (at its next step), so that even a dropped request's tokens are counted and
its audit line is complete (the tasks are left in the record's `pending`, which observe.py awaits).
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..requests import Completion, Event, GenerationRequest, PromptTooLong, QueueFull
from .errors import ApiError
from .metrics import ApiMetrics
from .params import PreparedChat

DISCONNECT_POLL_S = 0.25
RETRY_AFTER_S = 1


class Generation:
    def __init__(self, handle: Any, model: str, metrics: ApiMetrics, record: dict[str, Any]) -> None:
        self.handle, self.model, self.metrics, self.record = handle, model, metrics, record
        self.submitted = time.monotonic()
        self.completion: Completion | None = None
        self.task: asyncio.Task | None = None
        metrics.running.inc()

    def start(self, index: int, out: asyncio.Queue) -> None:
        self.task = asyncio.get_running_loop().create_task(self._read(index, out))

    async def _read(self, index: int, out: asyncio.Queue) -> None:
        first = True
        try:
            async for event in self.handle:
                answered = event.completion is not None and event.completion.finish_reason in ("stop", "length")
                if first and (event.text or answered):  # a cancelled or failed one never had a first token
                    self.metrics.first_token.labels(self.model).observe(time.monotonic() - self.submitted)
                    first = False
                if event.completion is not None:
                    self._finish(event.completion)
                out.put_nowait((index, event))
        finally:
            if self.completion is None:  # the loop is closing: the gauge must not stay up
                self.metrics.running.dec()

    def _finish(self, completion: Completion) -> None:
        self.completion = completion
        self.metrics.running.dec()
        self.metrics.completion_tokens.labels(self.model).inc(completion.completion_tokens)
        self.metrics.generations.labels(self.model, completion.finish_reason).inc()
        self.record["completion_tokens"] = (self.record["completion_tokens"] or 0) + completion.completion_tokens
        self.record["finish_reasons"] = [*(self.record["finish_reasons"] or []), completion.finish_reason]


class ChoiceGroup:
    """The n generations of one request, with their events merged in arrival order."""

    def __init__(self, generations: list[Generation], record: dict[str, Any]) -> None:
        self.generations, self.record = generations, record
        self.queue: asyncio.Queue[tuple[int, Event]] = asyncio.Queue()
        for index, generation in enumerate(generations):
            generation.start(index, self.queue)

    async def events(self) -> AsyncIterator[tuple[int, Event]]:
        """(choice index, event) until every choice has its completion."""
        left = len(self.generations)
        while left:
            index, event = await self.queue.get()
            left -= event.completion is not None
            yield index, event

    async def completions(self, disconnected: Callable[[], Awaitable[bool]]) -> list[Completion] | None:
        """Every choice's completion; None when the client left first (then the generations are abandoned)."""
        tasks = [generation.task for generation in self.generations if generation.task is not None]
        while True:
            _, pending = await asyncio.wait(tasks, timeout=DISCONNECT_POLL_S)
            if not pending:
                return [generation.completion for generation in self.generations]  # type: ignore[misc]
            if await disconnected():
                self.abandon()
                return None

    def abandon(self) -> None:
        """Cancel the unfinished generations; their reading tasks finish in the background (see the docstring)."""
        for generation in self.generations:
            if generation.completion is None:
                generation.handle.cancel()
                if generation.task is not None and generation.task not in self.record["pending"]:
                    self.record["pending"].append(generation.task)


def submit_choices(engine: Any, prepared: PreparedChat, metrics: ApiMetrics, record: dict[str, Any]) -> ChoiceGroup:
    """Submit one engine request per choice; 429 (queue full) or 413 (prompt too long) refuses them all."""
    generations: list[Generation] = []
    try:
        for options in prepared.options:
            handle = engine.submit(GenerationRequest(list(prepared.prompt_ids), options, adapter=prepared.adapter))
            generations.append(Generation(handle, prepared.model, metrics, record))
    except QueueFull as error:
        ChoiceGroup(generations, record).abandon()
        raise ApiError(429, f"The server is busy: {error}", type="rate_limit_error", code="rate_limit_exceeded",
                       headers={"Retry-After": str(RETRY_AFTER_S)}) from None
    except PromptTooLong as error:
        ChoiceGroup(generations, record).abandon()
        raise ApiError(413, str(error), param="messages", code="context_length_exceeded") from None
    metrics.prompt_tokens.labels(prepared.model).inc(len(prepared.prompt_ids) * len(generations))
    return ChoiceGroup(generations, record)
