"""For operators: GET /health (no key: load balancers probe it) and GET /metrics (Prometheus text, with a key:
token counts and queue depths are not for everyone)."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .schemas import Health
from .state import api_state, require_key

router = APIRouter()


@router.get("/health", response_model=Health)
async def health(request: Request) -> Health:
    return Health(models=list(api_state(request).engine.model_names))


@router.get("/metrics", dependencies=[Depends(require_key)], response_class=Response)
async def metrics(request: Request) -> Response:
    registry = api_state(request).metrics
    return Response(registry.render(), media_type=registry.content_type)
