"""Models: the embedded tiny model, folders someone registered, and what jobs made (registered when they
complete). Deleting a model only removes its registration: the files stay where they are."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import audit
from ..deps import DB, Reader, Writer
from ..errors import conflict, field_error, not_found
from ..jobs.states import ACTIVE
from ..model_info import EMBEDDED, config_keys, inspect_model, is_model_folder
from ..models import Job, Model
from ..schemas.common import CONFLICT, NOT_FOUND, WRITE_ERRORS, Id, Limit, Offset
from ..schemas.models import ModelCreate, ModelList, ModelOut

router = APIRouter(prefix="/api/models", tags=["models"])


def model_out(model: Model) -> ModelOut:
    return ModelOut.model_validate({
        **{column: getattr(model, column) for column in (
            "id", "name", "kind", "path", "architecture", "num_parameters", "size_bytes", "template", "base_model",
            "job_id", "created_at")},
        "config": config_keys(model.kind, model.path, model.base_model),
    })


def _get(session: Session, model_id: int) -> Model:
    model = session.get(Model, model_id)
    if model is None:
        raise not_found("model", model_id)
    return model


def users_of(session: Session, model: Model) -> list[int]:
    """Unfinished jobs whose config names this model (its path, or `embedded`)."""
    names = {model.path, EMBEDDED if model.kind == EMBEDDED else model.path}
    users = []
    for job in session.scalars(select(Job).where(Job.status.in_(ACTIVE)).order_by(Job.id)):
        used = {str(job.config.get(key)) for key in ("model_name_or_path", "adapter_name_or_path") if job.config.get(key)}
        if any(part.strip() in names for value in used for part in value.split(",")):
            users.append(job.id)
    return users


@router.get("", response_model=ModelList, responses=WRITE_ERRORS)
def list_models(session: DB, user: Reader, limit: Limit = 100, offset: Offset = 0) -> ModelList:
    models = session.scalars(select(Model).order_by(Model.id).limit(limit).offset(offset)).all()
    total = session.scalar(select(func.count()).select_from(Model)) or 0
    return ModelList(items=[model_out(model) for model in models], total=total)


@router.get("/{model_id}", response_model=ModelOut, responses={**WRITE_ERRORS, **NOT_FOUND})
def get_model(model_id: Id, session: DB, user: Reader) -> ModelOut:
    return model_out(_get(session, model_id))


@router.post("", status_code=201, response_model=ModelOut, responses={**WRITE_ERRORS, **CONFLICT})
def register_model(body: ModelCreate, request: Request, session: DB, user: Writer) -> ModelOut:
    """Register a folder on the server (a model, an adapter or a release) under a name."""
    folder = Path(body.path).expanduser()
    if not folder.is_absolute():
        raise field_error(["body", "path"], f"{body.path!r} is relative: give the folder's absolute path on the server.")
    if not is_model_folder(folder):
        raise field_error(["body", "path"], f"{folder} is not a model folder: it needs config.json (a model), "
                          "adapter_config.json (an adapter) or export_info.json (a release).")
    if session.scalar(select(Model).where(Model.name == body.name)) is not None:
        raise conflict(f"A model {body.name!r} exists already: choose another name.")
    facts = inspect_model(folder)
    kind = facts.kind if facts.kind in ("adapter", "release") else "local"
    model = Model(name=body.name, kind=kind, path=str(folder.resolve()), architecture=facts.architecture,
                  num_parameters=facts.num_parameters, size_bytes=facts.size_bytes, template=facts.template,
                  base_model=facts.base_model)
    session.add(model)
    session.flush()
    audit.record(session, request, user, "model.create", "model", model.id, {"name": model.name, "path": model.path})
    session.commit()
    return model_out(model)


@router.delete("/{model_id}", status_code=204, responses={**WRITE_ERRORS, **NOT_FOUND, **CONFLICT})
def delete_model(model_id: Id, request: Request, session: DB, user: Writer) -> Response:
    """Remove the registration (not the files); refused for the embedded model and while an unfinished job uses it."""
    model = _get(session, model_id)
    if model.kind == EMBEDDED:
        raise conflict("The embedded model is built in and cannot be removed.")
    if users := users_of(session, model):
        raise conflict(f"Model {model.name!r} is used by unfinished job(s) {', '.join(map(str, users))}: stop or delete "
                       "them first.")
    audit.record(session, request, user, "model.delete", "model", model.id, {"name": model.name})
    session.delete(model)
    session.commit()
    return Response(status_code=204)
