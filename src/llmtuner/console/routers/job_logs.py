"""A job's log (the last lines, and a live SSE stream) and its metrics (loss, learning rate, evaluation), read
from the files the job writes. The stream holds no database session while it runs: many readers cost the
database one status query per job per second (state.StatusCache)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from ..deps import DB, Reader, console_state
from ..jobs.configs import LOG_NAME
from ..jobs.logs import follow, tail
from ..jobs.metrics import job_metrics, steps_per_second
from ..jobs.states import FINISHED
from ..schemas.common import NOT_FOUND, WRITE_ERRORS, Id, json_errors
from ..schemas.jobs import LogLevel, LogLineOut, LogsOut, MetricsOut
from .jobs import get_job

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
Level = Annotated[LogLevel | None, Query(description="Only lines of this level or above.")]
Search = Annotated[str | None, Query(max_length=200, description="Only lines containing this text (case-insensitive).")]


@router.get("/{job_id}/logs", response_model=LogsOut, responses={**WRITE_ERRORS, **NOT_FOUND})
def read_logs(job_id: Id, session: DB, user: Reader, tail_lines: int = Query(200, ge=0, le=10000, alias="tail"),
              level: Level = None, search: Search = None) -> LogsOut:
    job = get_job(session, job_id)
    lines, next_offset = tail(Path(job.job_dir) / LOG_NAME, tail_lines, level, search) if job.job_dir else ([], 0)
    return LogsOut(lines=[LogLineOut(offset=line.offset, level=line.level, text=line.text) for line in lines],
                   next_offset=next_offset, status=job.status)


async def stream_reader(job_id: Id, session: DB, user: Reader) -> Path:
    """The job's log path, after the sign-in check. The request's session is closed here, before the stream starts:
    FastAPI ends a request's dependencies after its answer, and a stream would hold a connection for its whole life."""

    def look_up() -> Path:
        try:
            return Path(get_job(session, job_id).job_dir) / LOG_NAME
        finally:
            session.close()

    return await run_in_threadpool(look_up)


@router.get("/{job_id}/logs/stream", response_class=EventSourceResponse, responses=json_errors(400, 401, 403, 404, 413, 422))
async def stream_logs(job_id: Id, request: Request, path: Annotated[Path, Depends(stream_reader)],
                      offset: int | None = Query(None, ge=0, le=2**62, description="Go on from this byte offset (a next_offset)."),
                      tail_lines: int = Query(100, ge=0, le=10000, alias="tail", description="Lines before following."),
                      level: Level = None, search: Search = None,
                      last_event_id: Annotated[str | None, Header(max_length=32)] = None) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: `line` (data: {offset, level, text}; id: where to resume) for every matching line, as
    it is written, then `end` (data: {status}) when the job has finished and its log is read."""
    state = console_state(request)
    if last_event_id is not None and last_event_id.isdigit():
        offset = int(last_event_id)
    if offset is None:
        lines, offset = await run_in_threadpool(tail, path, tail_lines, level, search)
        for line in lines:
            yield ServerSentEvent(event="line", id=str(line.end), data={"offset": line.offset, "level": line.level, "text": line.text})

    async def finished() -> bool:
        fresh, status = state.statuses.cached(job_id)
        if not fresh:
            status = await run_in_threadpool(state.statuses.status, job_id)  # a database read: not on the event loop
        return status is None or status in FINISHED

    async for line in follow(path, offset, level, search, finished, state.settings.poll_interval_s):
        yield ServerSentEvent(event="line", id=str(line.end), data={"offset": line.offset, "level": line.level, "text": line.text})
        if await request.is_disconnected():
            return
    yield ServerSentEvent(event="end", data={"status": await run_in_threadpool(state.statuses.status, job_id)})


@router.get("/{job_id}/metrics", response_model=MetricsOut, responses={**WRITE_ERRORS, **NOT_FOUND})
def read_metrics(job_id: Id, session: DB, user: Reader,
                 since_step: int = Query(0, ge=0, le=2**62, description="Only points after this step (for polling).")) -> MetricsOut:
    job = get_job(session, job_id)
    metrics = job_metrics(job.kind, Path(job.output_dir), since_step) if job.output_dir else job_metrics(job.kind, Path("/nonexistent"))
    rate = steps_per_second(metrics["train"])
    return MetricsOut.model_validate({**metrics, "status": job.status, "steps_per_second": rate})
