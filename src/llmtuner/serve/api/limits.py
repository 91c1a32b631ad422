"""The request body limit (`max_body_bytes`), before anything parses the body: 413 in OpenAI's shape.

A declared Content-Length over the limit is refused without reading; a chunked (or lying) body is counted as
it arrives and refused once it passes the limit. A body within the limit is handed on whole, then `receive`
passes through, so routes still see the client's disconnect.

Before a 413 the rest of the body is read and dropped (up to DRAIN_BYTES): a server that closes a connection
with unread data makes the kernel reset it, and the client would see "connection reset" instead of the 413.
"""

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body

DRAIN_BYTES = 8 * 2**20


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await send_json(send, 400, error_body("The Content-Length header is not a number."))
                return
            if int(declared) > self.max_bytes:
                await self._too_large(receive, send, 0, more=int(declared) <= DRAIN_BYTES)
                return
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending the whole body
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await self._too_large(receive, send, total, message.get("more_body", False))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        first: Message | None = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        async def replay() -> Message:
            nonlocal first
            if first is not None:
                message, first = first, None
                return message
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, receive: Receive, send: Send, read: int, more: bool = True) -> None:
        while more and read < DRAIN_BYTES:
            message = await receive()
            read += len(message.get("body", b""))
            more = message["type"] == "http.request" and message.get("more_body", False)
        await send_json(send, 413, error_body(f"The request body is larger than this server accepts ({self.max_bytes} "
                                              "bytes, max_body_bytes).", code="request_too_large"))
