"""The audit log (`--audit_log FILE`): one JSON line per API request, appended, never the text.

A line says who (key id), what (model, token counts, the SHA-256 of the rendered prompt ids, which proves
what was asked without storing it), when and how it ended. The file is opened for each line in append mode
under a lock, so lines from concurrent requests never interleave and a rotated file is picked up.
"""

import hashlib
import json
import threading
import uuid
from collections.abc import MutableMapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

AUDIT_SCOPE = "llmtuner.audit"  # the request's record in its ASGI scope, filled by the key check and the routes
FIELDS = ("time", "request_id", "key_id", "route", "model", "status", "prompt_tokens", "completion_tokens",
          "latency_s", "finish_reasons", "prompt_sha256")


def new_record() -> dict[str, Any]:
    return {"request_id": uuid.uuid4().hex[:16], "key_id": None, "model": None, "status": None, "prompt_tokens": None,
            "completion_tokens": None, "finish_reasons": None, "prompt_sha256": None, "pending": []}


def scope_record(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    """The request's record (observe.py makes it first; an app used without it gets a scratch one)."""
    return scope.setdefault(AUDIT_SCOPE, new_record())


def prompt_digest(prompt_ids: list[int]) -> str:
    """SHA-256 of the prompt's token ids (what the model saw), comma-separated decimal."""
    return hashlib.sha256(",".join(map(str, prompt_ids)).encode("ascii")).hexdigest()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class AuditLog:
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({name: record.get(name) for name in FIELDS}, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as file:
            file.write(line)
