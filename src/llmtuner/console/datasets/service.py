"""Datasets as the API sees them: an upload taken in (received, checked, placed, registered, recorded), the rows
turned into answers, and the jobs that still need a dataset (which then cannot be deleted)."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...extras.errors import DataError
from ..errors import field_error
from ..jobs.states import ACTIVE
from ..models import Dataset, Job
from ..schemas.datasets import DatasetOut
from ..state import ConsoleState
from . import storage
from .records import FILE_TYPES
from .validate import analyse


def users_of(session: Session, name: str) -> list[int]:
    """Ids of unfinished jobs whose config reads dataset `name`."""
    return [job.id for job in session.scalars(select(Job).where(Job.status.in_(ACTIVE)).order_by(Job.id)) if name in job.datasets]


def dataset_out(session: Session, dataset: Dataset) -> DatasetOut:
    return DatasetOut.model_validate({
        **{column: getattr(dataset, column) for column in (
            "id", "name", "format", "file_type", "original_name", "num_samples", "size_bytes", "sha256", "columns",
            "created_at", "created_by")},
        "deidentification": {"counts": dataset.deidentification.get("counts", {}),
                             "records_with_identifiers": dataset.deidentification.get("records_with_identifiers", 0)},
        "used_by_jobs": users_of(session, dataset.name),
    })


def file_type_of(filename: str | None) -> tuple[str, str]:
    suffix = Path(filename or "").suffix.lower()
    if suffix not in FILE_TYPES:
        raise field_error(["body", "file"], f"The file {Path(filename or '').name!r} has the extension {suffix or 'none'}; "
                          f"upload one of {', '.join(FILE_TYPES)}.")
    return suffix, FILE_TYPES[suffix]


def take_upload(session: Session, state: ConsoleState, name: str, filename: str | None, source: IO[bytes],
                created_by: int | None) -> Dataset:
    """The whole upload; raises HTTPException 409 (name taken), 413 (too large) or 422 (naming line and field)."""
    from fastapi import HTTPException

    from ..errors import conflict

    if session.scalar(select(Dataset).where(Dataset.name == name)) is not None or name in storage.registered_names(
            state.settings.datasets_dir):
        raise conflict(f"A dataset {name!r} exists already: choose another name, or delete that one first.")
    suffix, file_type = file_type_of(filename)
    datasets_dir = state.settings.datasets_dir
    try:
        incoming, size, sha256 = storage.receive(source, datasets_dir, suffix, state.settings.upload_limit_bytes)
    except storage.TooLarge:
        raise HTTPException(413, f"The file is larger than the upload limit of {state.settings.upload_limit_mb} MiB; "
                                 "split it, or start the console with a larger --upload_limit_mb.") from None
    label = Path(filename or "").name
    try:
        try:
            analysis = analyse(incoming, file_type, name, label)
        except DataError as error:
            raise field_error(["body", "file"], str(error).replace(str(incoming), label), "data_error") from None
        if analysis.problems:
            raise HTTPException(422, [{"loc": ["body", "file"], "type": "data_error", "line": where,
                                       "msg": f"{label} {where}: {problem}. Fix or remove that record."}
                                      for where, problem in analysis.problems])
        file_name = storage.file_name_for(name, suffix)
        placed = storage.place(incoming, datasets_dir, file_name)
    except BaseException:
        incoming.unlink(missing_ok=True)
        raise
    try:
        storage.register(datasets_dir, name, {"file_name": file_name, **analysis.entry}, state.registry_lock)
        dataset = Dataset(name=name, file_name=file_name, original_name=label[:255], file_type=file_type,
                          format=analysis.format, num_samples=analysis.num_samples, size_bytes=size, sha256=sha256,
                          columns=analysis.columns, created_by=created_by,
                          deidentification={"counts": analysis.deidentification,
                                            "records_with_identifiers": analysis.records_with_identifiers})
        session.add(dataset)
        session.flush()
    except BaseException:
        storage.unregister(datasets_dir, name, state.registry_lock)
        placed.unlink(missing_ok=True)
        raise
    return dataset


def remove(state: ConsoleState, dataset: Dataset) -> None:
    storage.unregister(state.settings.datasets_dir, dataset.name, state.registry_lock)
    (state.settings.datasets_dir / dataset.file_name).unlink(missing_ok=True)
