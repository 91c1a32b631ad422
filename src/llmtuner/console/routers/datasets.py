"""Datasets: upload (multipart; its own body limit, see app.py), list, one, preview, delete (refused while a job
that is not finished reads it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...extras.errors import UserError
from .. import audit
from ..datasets import service
from ..datasets.preview import STAGE_OF_FORMAT, build_preview
from ..deps import DB, Reader, Writer, console_state
from ..errors import conflict, field_error, not_found
from ..model_info import EMBEDDED, config_keys
from ..models import Dataset, Model
from ..schemas.common import CONFLICT, NAME_PATTERN, NOT_FOUND, WRITE_ERRORS, ErrorOut, Id, Limit, Offset
from ..schemas.datasets import DatasetList, DatasetOut, PreviewOut

router = APIRouter(prefix="/api/datasets", tags=["datasets"])
upload_router = APIRouter(prefix="/api/datasets", tags=["datasets"])


def _get(session: Session, dataset_id: int) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise not_found("dataset", dataset_id)
    return dataset


@upload_router.post("", status_code=201, response_model=DatasetOut, responses={
    **WRITE_ERRORS, **CONFLICT, 413: {"model": ErrorOut, "description": "Larger than the upload limit"}})
def upload_dataset(request: Request, session: DB, user: Writer,
                   file: Annotated[UploadFile, File(description="JSON, JSONL, CSV, TXT or Parquet.")],
                   name: Annotated[str, Form(pattern=NAME_PATTERN, description="The dataset's name in job configs.")]) -> DatasetOut:
    """Store a dataset: its format is detected, every record checked (a broken one is a 422 naming its line), its
    identifiers counted by kind, and it is registered in dataset_info.json under `name`."""
    state = console_state(request)
    dataset = service.take_upload(session, state, name, file.filename, file.file, user.id)
    audit.record(session, request, user, "dataset.create", "dataset", dataset.id, {
        "name": dataset.name, "format": dataset.format, "num_samples": dataset.num_samples, "sha256": dataset.sha256,
        "identifiers": dataset.deidentification.get("counts", {})})
    try:
        session.commit()
    except BaseException:
        service.remove(state, dataset)
        raise
    return service.dataset_out(session, dataset)


@router.get("", response_model=DatasetList, responses=WRITE_ERRORS)
def list_datasets(session: DB, user: Reader, limit: Limit = 100, offset: Offset = 0) -> DatasetList:
    datasets = session.scalars(select(Dataset).order_by(Dataset.id.desc()).limit(limit).offset(offset)).all()
    total = session.scalar(select(func.count()).select_from(Dataset)) or 0
    return DatasetList(items=[service.dataset_out(session, dataset) for dataset in datasets], total=total)


@router.get("/{dataset_id}", response_model=DatasetOut, responses={**WRITE_ERRORS, **NOT_FOUND})
def get_dataset(dataset_id: Id, session: DB, user: Reader) -> DatasetOut:
    return service.dataset_out(session, _get(session, dataset_id))


@router.get("/{dataset_id}/preview", response_model=PreviewOut, responses={**WRITE_ERRORS, **NOT_FOUND})
def preview_dataset(dataset_id: Id, request: Request, session: DB, user: Reader,
                    model: str = Query(EMBEDDED, max_length=128, description="A registered model's name: its tokenizer "
                                                                               "and recorded template are used."),
                    template: str | None = Query(None, max_length=64, description="Default: the model's recorded template."),
                    cutoff_len: int = Query(1024, ge=8, le=131072), rows: int = Query(5, ge=1, le=50),
                    max_samples: int = Query(1000, ge=1, le=100000, description="Statistics over the first N samples.")) -> PreviewOut:
    """The first rows as the model will see them (masked parts marked), and token statistics."""
    dataset = _get(session, dataset_id)
    if dataset.format not in STAGE_OF_FORMAT:
        raise field_error(["path", "dataset_id"], f"Dataset {dataset.name!r} is {dataset.format} data, for evaluation: "
                          "a preview shows training data (alpaca, sharegpt, text, preference, kto).")
    registered = session.scalar(select(Model).where(Model.name == model))
    if registered is None:
        raise field_error(["query", "model"], f"No model named {model!r}: use a name from GET /api/models.")
    chosen = template or registered.template
    if STAGE_OF_FORMAT[dataset.format] != "pt" and not chosen:
        raise field_error(["query", "template"], f"Model {model!r} records no chat template: pass template= (see "
                          "`llmtuner templates`).")
    state = console_state(request)
    keys = config_keys(registered.kind, registered.path, registered.base_model)
    try:
        preview = build_preview(dataset.name, dataset.format, state.settings.datasets_dir, state.settings.cache_dir / "datasets",
                                keys, chosen, cutoff_len, rows, max_samples)
    except UserError as error:
        raise field_error(["query"], str(error), type(error).__name__) from None
    return PreviewOut.model_validate({**preview, "model": model})


@router.delete("/{dataset_id}", status_code=204, responses={**WRITE_ERRORS, **NOT_FOUND, **CONFLICT})
def delete_dataset(dataset_id: Id, request: Request, session: DB, user: Writer) -> Response:
    """Remove the dataset, its file and its dataset_info.json entry; refused while an unfinished job reads it."""
    dataset = _get(session, dataset_id)
    if users := service.users_of(session, dataset.name):
        raise conflict(f"Dataset {dataset.name!r} is read by unfinished job(s) {', '.join(map(str, users))}: stop or "
                       "delete them first.")
    audit.record(session, request, user, "dataset.delete", "dataset", dataset.id, {"name": dataset.name})
    session.delete(dataset)
    session.commit()
    service.remove(console_state(request), dataset)
    return Response(status_code=204)
