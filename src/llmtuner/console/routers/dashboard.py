"""GET /api/dashboard: counts of datasets, models and jobs by status, the latest jobs, and the machine's load.

The answer is the same for every reader, so it is built at most once a second (state.SharedAnswer): fifty open
dashboards cost the database and the CPU what one does, and take nothing from the jobs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ..deps import DB, Reader, console_state
from ..jobs.states import STATES
from ..models import Dataset, Job, Model
from ..schemas.common import ERRORS
from ..schemas.dashboard import DashboardOut
from ..schemas.jobs import JobSummary
from ..state import ConsoleState

router = APIRouter(prefix="/api", tags=["dashboard"])
RECENT = 10


@router.get("/dashboard", response_model=DashboardOut, responses=ERRORS)
async def dashboard(request: Request, session: DB, user: Reader) -> Response:
    state = console_state(request)
    body = state.dashboard.fresh()  # the common case: built by an earlier reader this second, served on the loop
    if body is None:
        body = await run_in_threadpool(state.dashboard.get, lambda: build(session, state).model_dump_json().encode())
    return Response(body, media_type="application/json")


def build(session: Session, state: ConsoleState) -> DashboardOut:
    by_status = dict.fromkeys(STATES, 0)
    by_status.update(dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).tuples().all()))
    recent = session.scalars(select(Job).order_by(Job.id.desc()).limit(RECENT)).all()
    return DashboardOut.model_validate({
        "counts": {"datasets": session.scalar(select(func.count()).select_from(Dataset)) or 0,
                   "models": session.scalar(select(func.count()).select_from(Model)) or 0,
                   "jobs_by_status": by_status},
        "recent_jobs": [JobSummary.model_validate(job) for job in recent],
        "system": state.monitor.read(),
        "scheduler": {"gpu_ids": list(state.scheduler.gpu_ids), "cpu_slots": state.settings.cpu_slots},
    })
