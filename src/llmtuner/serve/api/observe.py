"""The outermost layer of the app: per-request metrics, the audit line, one INFO line, and a last guard that
turns an unexpected exception into a generic 500 (no traceback reaches a client or uvicorn's log, since an
exception's text can quote a prompt; the log gets its type and where it was raised).

Routes fill the request's record (`scope[AUDIT_SCOPE]`: key id, model, token counts, prompt digest); a
generation that ends after its response (a client that left mid-stream) adds an awaitable to `pending`,
which is awaited before the audit line is written, so the line has the final token counts.
"""

import asyncio
import time
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...extras.logging import get_logger
from .audit import AUDIT_SCOPE, AuditLog, new_record, now_iso
from .errors import error_body, server_error
from .limits import send_json
from .metrics import ApiMetrics

logger = get_logger(__name__)
AUDITED_PREFIX = "/v1/"
LOGGED_ROUTES = ("/v1/chat/completions",)
PENDING_WAIT_S = 120.0


def where_raised(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


class Observer:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics, audit: AuditLog | None) -> None:
        self.app, self.metrics, self.audit = app, metrics, audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, record = time.monotonic(), new_record()
        scope[AUDIT_SCOPE] = record
        status: list[int] = []

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception as error:
            logger.error("Request %s failed: %s at %s", record["request_id"], type(error).__name__, where_raised(error))
            if not status:
                failure = server_error()
                await send_json(observed_send, 500, error_body(failure.message, failure.type))
        latency = time.monotonic() - started
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        code = record["status"] or (status[0] if status else 500)
        self.metrics.requests.labels(route, str(code)).inc()
        self.metrics.latency.labels(route).observe(latency)
        if record["pending"]:
            await asyncio.wait(record["pending"], timeout=PENDING_WAIT_S)
        if route in LOGGED_ROUTES:
            logger.info("request %s key %s model %s status %d prompt_tokens %s completion_tokens %s %.2fs",
                        record["request_id"], record["key_id"], record["model"], code, record["prompt_tokens"],
                        record["completion_tokens"], latency)
        if self.audit is not None and scope.get("path", "").startswith(AUDITED_PREFIX):
            self.audit.write({**record, "time": now_iso(), "route": route,
                              "status": code, "latency_s": round(latency, 4)})
