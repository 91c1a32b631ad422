"""One audit row per write, added to the request's own session so it commits (or not) with the change itself.

Details hold ids, names, kinds and counts: never dataset text, passwords or tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from sqlalchemy.orm import Session

from .models import AuditEntry

if TYPE_CHECKING:
    from .models import User
    from .signins import Principal


def client_address(request: Request | None) -> str | None:
    return request.client.host if request is not None and request.client else None


def record(session: Session, request: Request | None, user: Principal | User | None, action: str, target_type: str | None = None,
           target_id: object = None, detail: dict[str, Any] | None = None, outcome: str = "ok",
           username: str | None = None) -> None:
    session.add(AuditEntry(
        user_id=user.id if user is not None else None, username=user.username if user is not None else username,
        action=action, target_type=target_type, target_id=None if target_id is None else str(target_id),
        outcome=outcome, client=client_address(request), detail=detail or {},
    ))
