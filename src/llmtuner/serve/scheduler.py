"""The request queue of the transformers engine and its batching policy: which waiting requests share a generation.

Dynamic batching: one worker thread takes the oldest waiting request, waits up to `batch_wait_s` for as many
requests as the server recently held (clients answered by the last batch come back within milliseconds;
an idle server does not wait), and runs every waiting request with the same decoding key
(`SamplingOptions.batch_key`) together, up to `max_batch` rows. Requests arriving while a batch runs wait for the
next one (this is not continuous batching: that needs a decode loop that adds rows between steps, which vLLM has
and transformers' generate() has not).
Requests beyond `max_batch + max_queue` are refused at once (`QueueFull`) so that a client can retry elsewhere.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..extras.logging import get_logger
from .requests import Completion, Event, GenerationRequest, QueueFull

logger = get_logger(__name__)
Sink = Callable[[Event], None]


@dataclass(eq=False)
class Job:
    request: GenerationRequest
    sink: Sink
    """Receives the request's events, from the worker thread; the last one carries the Completion."""
    started: float = field(default=0.0)

    def finish_cancelled(self) -> None:
        self.sink(Event(completion=Completion("", "cancelled", len(self.request.prompt_ids), 0,
                                              queue_s=time.monotonic() - self.request.created)))


class BatchScheduler:
    def __init__(self, run_batch: Callable[[list[Job]], None], max_batch: int, max_queue: int, batch_wait_s: float) -> None:
        self.run_batch = run_batch
        self.max_batch, self.max_queue, self.batch_wait_s = max_batch, max_queue, batch_wait_s
        self._waiting: list[Job] = []
        self._running = 0
        self._recent_load = 0  # requests in the system when the last batch ended: the next batch waits for them
        self._last_batch_end = 0.0
        self._closed = False
        self._condition = threading.Condition()
        self._worker = threading.Thread(target=self._loop, name="llmtuner-scheduler", daemon=True)
        self._worker.start()

    @property
    def queue_depth(self) -> int:
        """Requests waiting for a batch (not those being generated)."""
        with self._condition:
            return len(self._waiting)

    @property
    def running(self) -> int:
        with self._condition:
            return self._running

    def submit(self, request: GenerationRequest, sink: Sink) -> None:
        with self._condition:
            if self._closed:
                raise QueueFull("the engine is shutting down; retry on another server.")
            if len(self._waiting) + self._running >= self.max_batch + self.max_queue:
                raise QueueFull(f"{self.max_queue} requests are already waiting (max_queue) beside the {self.max_batch} "
                                "being generated (max_concurrency); retry shortly.")
            self._waiting.append(Job(request, sink))
            self._condition.notify_all()

    def close(self) -> None:
        """Stop taking requests; waiting ones end as cancelled, the running batch finishes."""
        with self._condition:
            self._closed = True
            waiting, self._waiting = self._waiting, []
            self._condition.notify_all()
        for job in waiting:
            job.finish_cancelled()
        self._worker.join(timeout=60)

    def _next_batch(self) -> list[Job] | None:
        with self._condition:
            while not self._waiting and not self._closed:
                self._condition.wait()
            if self._closed:
                return None
            # Wait for as many rows as were in the system when the last batch ended (the clients it answered
            # usually send their next request within milliseconds), at most batch_wait_s from the later of the
            # oldest request's arrival and that batch's end. An idle server's first request does not wait.
            target = min(self.max_batch, max(self._recent_load, 1))
            deadline = max(self._waiting[0].request.created, self._last_batch_end) + self.batch_wait_s
            while not self._closed and len(self._same_key()) < target and (left := deadline - time.monotonic()) > 0:
                self._condition.wait(timeout=left)
            batch = self._same_key()[: self.max_batch]
            taken = {id(job) for job in batch}
            self._waiting = [job for job in self._waiting if id(job) not in taken]
            self._running = len(batch)
            return batch

    def _same_key(self) -> list[Job]:
        if not self._waiting:
            return []
        key = self._waiting[0].request.options.batch_key()
        return [job for job in self._waiting if job.request.options.batch_key() == key]

    def _loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            live = []
            for job in batch:
                if job.request.cancelled.is_set():
                    job.finish_cancelled()
                else:
                    job.started = time.monotonic()
                    live.append(job)
            try:
                if live:
                    self.run_batch(live)
            except Exception as error:  # a failed batch must not stop the server: its requests end with an error
                logger.error("A generation batch of %d request(s) failed: %s: %s", len(live), type(error).__name__,
                             str(error).splitlines()[0][:300] if str(error) else "")
                for job in live:
                    job.sink(Event(completion=Completion("", "error", len(job.request.prompt_ids), 0,
                                                         error=f"{type(error).__name__} during generation")))
            finally:
                with self._condition:
                    self._recent_load = len(live) + len(self._waiting)
                    self._last_batch_end = time.monotonic()
                    self._running = 0
                    self._condition.notify_all()
