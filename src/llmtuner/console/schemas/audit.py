from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from .common import Out


class AuditOut(Out):
    id: int
    at: datetime
    user_id: int | None
    username: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    client: str | None
    detail: dict[str, Any]


class AuditList(BaseModel):
    items: list[AuditOut]
    total: int
