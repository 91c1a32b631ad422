"""Errors as answers: 4xx with a message that names the field and the fix; a bug is a 500 whose traceback goes to
the server's log (never the request's data) and whose answer says only that."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from ..extras.errors import UserError
from .jobs.states import InvalidTransition

logger = logging.getLogger("llmtuner.console")


def not_found(what: str, key: object) -> HTTPException:
    return HTTPException(404, f"No {what} {key!r}: list them with GET /api/{what}s.")


def conflict(message: str) -> HTTPException:
    return HTTPException(409, message)


def field_error(loc: list[str | int], message: str, kind: str = "value_error", line: str | None = None) -> HTTPException:
    problem: dict[str, object] = {"loc": loc, "msg": message, "type": kind}
    if line is not None:
        problem["line"] = line
    return HTTPException(422, [problem])


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UserError)
    async def user_error(request: Request, error: UserError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": ["body"], "msg": str(error), "type": type(error).__name__}]}, 422)

    @app.exception_handler(InvalidTransition)
    async def invalid_transition(request: Request, error: InvalidTransition) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, 409)

    @app.exception_handler(IntegrityError)
    async def integrity(request: Request, error: IntegrityError) -> JSONResponse:
        return JSONResponse({"detail": "That name is taken (or the object changed meanwhile): choose another name, "
                                       "or reload and try again."}, 409)

    @app.exception_handler(Exception)
    async def bug(request: Request, error: Exception) -> JSONResponse:
        logger.error("%s %s failed: %s", request.method, request.url.path, type(error).__name__, exc_info=error)
        return JSONResponse({"detail": "Internal error: the console's log has the details. Please report it."}, 500)
