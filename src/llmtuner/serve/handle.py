"""The caller's side of one request: events pushed by an engine (from its own thread) read as an async iterator."""

import asyncio
from collections.abc import AsyncIterator

from .requests import Completion, Event, GenerationRequest


class RequestHandle:
    """The caller's side of one request: its events as an async iterator, filled from the engine's thread."""

    def __init__(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self._loop = loop
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    def sink(self, event: Event) -> None:
        """Thread-safe: engines call it from their own thread."""
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)
        except RuntimeError:  # the caller's loop has closed (a chat that exited): nobody reads this any more
            self.request.cancel()

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            yield event
            if event.completion is not None:
                return

    async def result(self) -> Completion:
        """Wait for the whole answer."""
        async for event in self:
            if event.completion is not None:
                return event.completion
        raise RuntimeError("the engine ended a request without a completion")  # engines always send one

    def cancel(self) -> None:
        self.request.cancel()
