"""GET /api/health: for probes and the interface's first call; needs no sign-in and shows no data."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from ... import __version__
from ..deps import console_state
from ..schemas.dashboard import HealthOut

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut, "description": "The database does not answer"}})
def health(request: Request) -> HealthOut | JSONResponse:
    try:
        with console_state(request).db.session() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse(HealthOut(status="error", version=__version__, database="unavailable").model_dump(), 503)
    return HealthOut(status="ok", version=__version__, database="ok")
