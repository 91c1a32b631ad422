"""What a finished job leaves: whether its files say it completed, and the models it made (registered as Models:
a training run's adapter or full model, an export's release)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..model_info import inspect_model, is_model_folder
from ..models import Job, Model
from .metrics import RESULT_FILES


def completed_by_files(job: Job) -> bool:
    """The run's final file exists and is newer than the job's start (for a process whose exit code is unknown)."""
    marker = Path(job.output_dir) / RESULT_FILES.get(job.kind, "")
    if not job.output_dir or not marker.is_file():
        return False
    started: datetime | None = job.started_at
    return started is None or marker.stat().st_mtime >= started.timestamp() - 1


def register_outputs(session: Session, job: Job) -> Model | None:
    """Register the model a completed train or export job wrote (None: it wrote none, e.g. an evaluation)."""
    folder = Path(job.output_dir)
    if job.kind not in ("train", "export") or not is_model_folder(folder):
        return None
    existing = session.scalar(select(Model).where(Model.path == str(folder)))
    facts = inspect_model(folder)
    if existing is not None:
        model = existing
    else:
        taken = set(session.scalars(select(Model.name).where(Model.name.like(f"{job.name}%"))))
        name = next(candidate for candidate in (job.name, f"{job.name}-{job.id}", f"{job.name}-{job.id}-{facts.kind}",
                                                 f"job-{job.id}-{facts.kind}") if candidate not in taken)
        model = Model(name=name, path=str(folder), kind=facts.kind, job_id=job.id)
        session.add(model)
    model.kind, model.architecture, model.num_parameters = facts.kind, facts.architecture, facts.num_parameters
    model.size_bytes, model.template, model.base_model = facts.size_bytes, facts.template, facts.base_model
    session.flush()
    return model
