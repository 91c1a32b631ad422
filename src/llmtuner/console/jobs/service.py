"""What the API does to jobs: create (config checked by the project's parsers before anything is accepted; a serve
job also gets its port and API key file), stop, restart (resumes from the last checkpoint), delete (with or without
its files). State changes go through states.transition; processes are the scheduler's."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ...extras.errors import ConfigError, UserError
from ..errors import conflict, field_error
from ..models import Job, JobEvent, Model
from ..schemas.jobs import JobCreate
from ..signins import Principal
from ..state import ConsoleState
from . import states
from .configs import OUTPUT_KEY, SERVE, complete_config, error_key, restart_config, validate_config, write_api_key


def create_job(session: Session, state: ConsoleState, user: Principal, body: JobCreate) -> Job:
    gpu_ids = state.scheduler.gpu_ids
    gpus = body.gpus if body.gpus is not None else (1 if gpu_ids else 0)
    if gpus > len(gpu_ids) and not state.executor.queues_jobs:  # a cluster has the GPUs this machine lacks
        raise field_error(["body", "gpus"], f"The job asks for {gpus} GPU(s); this console hands out {len(gpu_ids)} "
                          f"({', '.join(map(str, gpu_ids)) or 'none'}: --gpu_ids). Ask for fewer, or 0 for a CPU slot.")
    if body.kind == SERVE and state.executor.queues_jobs:
        raise field_error(["body", "kind"], f"A serve job runs on the console's own machine (the playground reaches it on "
                          f"127.0.0.1), and this console submits jobs to {state.executor.name}. Serve from a console "
                          "started with --executor local, or run `llmtuner api` on the cluster yourself.")
    job = Job(name=body.name, kind=body.kind, status=states.PENDING, priority=body.priority, gpus=gpus, created_by=user.id)
    session.add(job)
    session.flush()  # the id names the job's folder
    job_dir = state.settings.jobs_dir / str(job.id)
    config = body.config
    try:
        config = complete_config(body.kind, body.config, job_dir, state.settings.datasets_dir,
                                 serve_ports(session) if body.kind == SERVE else ())
        names = validate_config(body.kind, config)
    except ConfigError as error:
        key = error_key(str(error), config)
        raise field_error(["body", "config", *([key] if key else [])], str(error), "config_error") from None
    except UserError as error:
        raise field_error(["body", "config"], str(error), type(error).__name__) from None
    except (TypeError, ValueError, AttributeError) as error:  # a value of a shape no YAML config could have
        raise field_error(["body", "config"], f"The config could not be read ({type(error).__name__}: {error}). Give "
                          "each key the value its YAML form would have (text, number, true/false or a list).") from None
    if body.kind == SERVE:
        write_api_key(job_dir)
    job.config, job.datasets = config, names
    output_key = OUTPUT_KEY.get(body.kind)
    job.job_dir = str(job_dir)
    job.output_dir = str(Path(config[output_key]).expanduser().absolute()) if output_key else ""
    session.add(JobEvent(job_id=job.id, from_status=None, to_status=states.PENDING, reason=f"created by {user.username}"))
    return job


def serve_ports(session: Session) -> set[int]:
    """The ports of serve jobs that are waiting or running: a new serve job must not be given one of them."""
    jobs = session.scalars(select(Job).where(Job.kind == SERVE, Job.status.in_(states.ACTIVE))).all()
    return {int(job.config["port"]) for job in jobs if isinstance(job.config.get("port"), int)}


def stop_job(session: Session, job: Job) -> bool:
    """Stop a waiting job at once (False), or mark a running one (True: after the commit, signal its processes with
    scheduler.stop_process, so the scheduler sees stop_requested when they exit)."""
    for _ in range(5):  # the scheduler may move the job on meanwhile: act on the state it has now
        if job.status in (states.PENDING, states.PREPARING):
            try:
                states.transition(session, job, states.STOPPED, "stopped before it ran", stop_requested=True)
                return False
            except states.InvalidTransition:
                continue  # transition() has re-read the job
        if job.status != states.RUNNING:
            raise conflict(f"Job {job.id} is {job.status}: there is nothing to stop.")
        session.execute(update(Job).where(Job.id == job.id).values(stop_requested=True))
        job.stop_requested = True
        session.flush()
        return True
    raise conflict(f"Job {job.id} changed state while it was being stopped: try again.")


def restart_job(session: Session, state: ConsoleState, job: Job) -> None:
    if job.status not in (states.FAILED, states.STOPPED):
        raise conflict(f"Job {job.id} is {job.status}; only a FAILED or STOPPED job can be restarted.")
    states.transition(session, job, states.PENDING, "restarted: resumes from its last checkpoint", stop_requested=False,
                      config=restart_config(job.kind, job.config, serve_ports(session) if job.kind == SERVE else ()),
                      pid=None, process_started=None, exit_code=None,
                      error=None, started_at=None, finished_at=None)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def delete_job(session: Session, state: ConsoleState, job: Job, delete_files: bool) -> tuple[dict[str, Any], Path | None]:
    """Remove the job's row; returns the audit detail and the folder to delete once that is committed (or None).
    Models the job made stay registered unless their files go too."""
    if job.status in (states.PREPARING, states.RUNNING):
        raise conflict(f"Job {job.id} is {job.status}: stop it first (POST /api/jobs/{job.id}/stop).")
    job_dir = Path(job.job_dir) if job.job_dir else None
    removable = delete_files and job_dir is not None and _inside(job_dir, state.settings.jobs_dir)
    removed: list[str] = []
    for model in session.scalars(select(Model).where(Model.job_id == job.id)).all():
        if removable and _inside(Path(model.path), job_dir):
            removed.append(model.name)
            session.delete(model)
        else:
            model.job_id = None
    session.delete(job)
    session.flush()
    outside = job.output_dir if job.output_dir and job_dir is not None and not _inside(Path(job.output_dir), job_dir) else None
    detail = {"files_deleted": bool(removable), "models_removed": removed, "output_kept": outside if delete_files else None}
    return detail, job_dir if removable else None


def remove_folder(folder: Path | None) -> None:
    """After the commit: the job's folder (config, log, output); a folder the config chose outside it stays."""
    if folder is not None and folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
