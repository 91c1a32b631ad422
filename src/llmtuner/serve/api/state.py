"""What every route of one app shares (the config, the engine, metrics, the key check), kept on
`app.state.api`; and the key check as a FastAPI dependency."""

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from ...hparams import ServeConfig
from .audit import AuditLog, scope_record
from .auth import KeyCheck
from .metrics import ApiMetrics


@dataclass
class ApiState:
    config: ServeConfig
    engine: Any
    metrics: ApiMetrics
    key_check: KeyCheck
    audit: AuditLog | None
    created: int
    """Unix time the app was made: `created` of every model in /v1/models."""


def api_state(request: Request) -> ApiState:
    return request.app.state.api


def require_key(request: Request) -> str:
    """Dependency of every route but /health: the caller's key id, or 401."""
    return api_state(request).key_check(request)


def request_record(request: Request) -> dict[str, Any]:
    return scope_record(request.scope)
