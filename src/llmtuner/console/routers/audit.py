"""GET /api/audit (admin only): who wrote what, newest first."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from ..deps import DB, Admin
from ..models import AuditEntry
from ..schemas.audit import AuditList, AuditOut
from ..schemas.common import WRITE_ERRORS, Limit, Offset

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=AuditList, responses=WRITE_ERRORS)
def list_audit(session: DB, admin: Admin, limit: Limit = 100, offset: Offset = 0,
               action: str | None = Query(None, max_length=64, description="Only this action, e.g. dataset.create")) -> AuditList:
    query = select(AuditEntry)
    counted = select(func.count()).select_from(AuditEntry)
    if action:
        query, counted = query.where(AuditEntry.action == action), counted.where(AuditEntry.action == action)
    entries = session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)).all()
    return AuditList(items=[AuditOut.model_validate(entry) for entry in entries], total=session.scalar(counted) or 0)
