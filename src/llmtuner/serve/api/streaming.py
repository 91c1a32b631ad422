"""The streamed chat completion: server-sent events of `chat.completion.chunk`s, then `data: [DONE]`.

Order, as OpenAI sends it: one chunk with the assistant role (all choices), content deltas as the engine
streams them, one chunk per choice with its finish_reason (and x_safety), a usage chunk with `choices: []`
when stream_options.include_usage, then [DONE]. An engine error after the stream started is an `error` event
(the status line is sent already), which the OpenAI SDKs raise as APIError.
"""

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from .answers import choice_logprobs, review
from .errors import error_body, server_error
from .generation import ChoiceGroup
from .params import PreparedChat
from .schemas import ChatCompletionChunk, ChunkChoice, Delta, Usage

DONE = "data: [DONE]\n\n"


class SSEResponse(StreamingResponse):
    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[str], on_close: Callable[[], None]) -> None:
        super().__init__(content, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:  # a client that left mid-send leaves the generator suspended: close it, so its finally runs now
            await self.body_iterator.aclose()  # type: ignore[union-attr]
            self.on_close()  # and one that left before the first chunk never started it


def sse(payload: Any) -> str:
    if isinstance(payload, ChatCompletionChunk):
        return f"data: {payload.model_dump_json()}\n\n"
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


async def chat_stream(group: ChoiceGroup, prepared: PreparedChat, safety: str, include_usage: bool, response_id: str,
                      created: int, record: dict[str, Any]) -> AsyncIterator[str]:
    def chunk(choices: list[ChunkChoice], usage: Usage | None = None) -> str:
        return sse(ChatCompletionChunk(id=response_id, created=created, model=prepared.model, choices=choices, usage=usage))

    # refuse mode buffers each answer and sends it whole after the safety check: a flagged answer must not
    # reach the client even in part. annotate and off stream as the engine generates.
    buffered = safety == "refuse"
    completion_tokens, ended = 0, False
    try:
        yield chunk([ChunkChoice(index=index, delta=Delta(role="assistant", content=""))
                     for index in range(len(prepared.options))])
        async for index, event in group.events():
            completion = event.completion
            if completion is None:
                if not buffered and (event.text or event.logprobs):
                    logprobs = choice_logprobs(event.logprobs) if event.logprobs else None
                    yield chunk([ChunkChoice(index=index, delta=Delta(content=event.text), logprobs=logprobs)])
                continue
            if completion.finish_reason in ("error", "cancelled"):
                failure = server_error()
                record["status"] = 500
                group.abandon()
                yield sse(error_body(failure.message, failure.type))
                yield DONE
                ended = True
                return
            answer = review(completion, safety, prepared.question)
            completion_tokens += completion.completion_tokens
            if buffered and answer.text:
                yield chunk([ChunkChoice(index=index, delta=Delta(content=answer.text), logprobs=answer.logprobs)])
            yield chunk([ChunkChoice(index=index, delta=Delta(), finish_reason=answer.finish_reason, x_safety=answer.safety)])
        if include_usage:
            prompt_tokens = len(prepared.prompt_ids)
            yield chunk([], Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                  total_tokens=prompt_tokens + completion_tokens))
        yield DONE
        ended = True
    finally:
        if not ended:  # the client left (Starlette cancelled us) or the server is stopping
            record["status"] = 499
            group.abandon()
