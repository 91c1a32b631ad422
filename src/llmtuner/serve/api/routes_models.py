"""GET /v1/models and /v1/models/{id}: the base model first, then each served adapter (OpenAI's list shape)."""

from fastapi import APIRouter, Depends, Request

from .errors import ApiError
from .schemas import ModelCard, ModelList
from .state import api_state, require_key

router = APIRouter(dependencies=[Depends(require_key)])


@router.get("/v1/models", response_model=ModelList)
async def list_models(request: Request) -> ModelList:
    state = api_state(request)
    return ModelList(data=[ModelCard(id=name, created=state.created) for name in state.engine.model_names])


@router.get("/v1/models/{model_id:path}", response_model=ModelCard)
async def get_model(model_id: str, request: Request) -> ModelCard:
    state = api_state(request)
    if model_id not in state.engine.model_names:
        raise ApiError(404, f"The model {model_id[:100]!r} does not exist.", param="model", code="model_not_found")
    return ModelCard(id=model_id, created=state.created)
