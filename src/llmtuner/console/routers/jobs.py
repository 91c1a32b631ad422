"""Jobs: create (config checked before acceptance), list, one (with its history), stop, restart, delete."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import audit
from ..deps import DB, Reader, Writer, console_state
from ..errors import not_found
from ..jobs import service
from ..models import Job
from ..schemas.common import CONFLICT, NOT_FOUND, WRITE_ERRORS, Id, Limit, Offset
from ..schemas.jobs import JobCreate, JobKind, JobList, JobOut, JobStatus, JobSummary

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise not_found("job", job_id)
    return job


def fresh(session: Session, job: Job) -> Job:
    """The job as committed, its history included (the scheduler may have moved it on meanwhile)."""
    session.refresh(job)
    session.expire(job, ["events"])
    return job


@router.post("", status_code=201, response_model=JobOut, responses=WRITE_ERRORS)
def create_job(body: JobCreate, request: Request, session: DB, user: Writer) -> Job:
    """Queue a job. Its config is checked as `llmtuner <kind>` would check it: a mistake is a 422 naming the key."""
    state = console_state(request)
    job = service.create_job(session, state, user, body)
    audit.record(session, request, user, "job.create", "job", job.id, {"name": job.name, "kind": job.kind,
                                                                         "datasets": job.datasets, "gpus": job.gpus})
    session.commit()
    state.scheduler.wake()
    return fresh(session, job)


@router.get("", response_model=JobList, responses=WRITE_ERRORS)
def list_jobs(session: DB, user: Reader, status: JobStatus | None = None, kind: JobKind | None = None,
              limit: Limit = 100, offset: Offset = 0) -> JobList:
    query, counted = select(Job), select(func.count()).select_from(Job)
    if status:
        query, counted = query.where(Job.status == status), counted.where(Job.status == status)
    if kind:
        query, counted = query.where(Job.kind == kind), counted.where(Job.kind == kind)
    jobs = session.scalars(query.order_by(Job.id.desc()).limit(limit).offset(offset)).all()
    return JobList(items=[JobSummary.model_validate(job) for job in jobs], total=session.scalar(counted) or 0)


@router.get("/{job_id}", response_model=JobOut, responses={**WRITE_ERRORS, **NOT_FOUND})
def read_job(job_id: Id, session: DB, user: Reader) -> Job:
    return get_job(session, job_id)


@router.post("/{job_id}/stop", response_model=JobOut, responses={**WRITE_ERRORS, **NOT_FOUND, **CONFLICT})
def stop_job(job_id: Id, request: Request, session: DB, user: Writer) -> Job:
    """A waiting job becomes STOPPED at once; a running one gets SIGTERM, then SIGKILL after the grace period, and
    becomes STOPPED when its processes are gone (stop_requested is true meanwhile)."""
    job = get_job(session, job_id)
    signal = service.stop_job(session, job)
    audit.record(session, request, user, "job.stop", "job", job.id, {"status": job.status})
    session.commit()
    if signal:
        console_state(request).scheduler.stop_process(job)
    return fresh(session, job)


@router.post("/{job_id}/restart", response_model=JobOut, responses={**WRITE_ERRORS, **NOT_FOUND, **CONFLICT})
def restart_job(job_id: Id, request: Request, session: DB, user: Writer) -> Job:
    """Queue a FAILED or STOPPED job again; training resumes from its last checkpoint."""
    job = get_job(session, job_id)
    service.restart_job(session, console_state(request), job)
    audit.record(session, request, user, "job.restart", "job", job.id, {})
    session.commit()
    console_state(request).scheduler.wake()
    return fresh(session, job)


@router.delete("/{job_id}", status_code=204, responses={**WRITE_ERRORS, **NOT_FOUND, **CONFLICT})
def delete_job(job_id: Id, request: Request, session: DB, user: Writer,
               delete_files: bool = Query(False, description="Also delete the job's folder (config, log, output).")) -> Response:
    job = get_job(session, job_id)
    detail, folder = service.delete_job(session, console_state(request), job, delete_files)
    audit.record(session, request, user, "job.delete", "job", job_id, {"name": job.name, **detail})
    session.commit()
    service.remove_folder(folder)
    return Response(status_code=204)
