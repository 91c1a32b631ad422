"""Every error the API returns, in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.

Clients (the official SDKs, LangChain, ...) read `error.message` and map the status to an exception class,
so the status must be right and the body must always have this shape, even for a route that does not exist
or a body that is not JSON. Messages never quote the request body: it may hold patient data.
"""

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

INVALID = "invalid_request_error"
MAX_PARAM = 80  # a field name is echoed back: bounded, as it comes from the client


class ApiError(Exception):
    """Raised anywhere in a route; answered by `api_error_response`."""

    def __init__(self, status: int, message: str, type: str = INVALID, param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}


def error_body(message: str, type: str = INVALID, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error_body(error.message, error.type, error.param, error.code), status_code=error.status,
                        headers=error.headers)


def server_error() -> ApiError:
    """The one message a client sees for a fault of ours: details stay in the server's log."""
    return ApiError(500, "The server had an error while processing your request; retry, or report it to the operator.",
                    type="server_error")


UNION_TAG = re.compile(r"^(str|int|float|bool|none|list\[.*\]|dict\[.*\]|function-.*|constrained-.*)$")


def param_name(location: tuple[Any, ...]) -> str | None:
    """("body", "messages", 0, "role") -> "messages[0].role"; None for the body as a whole. pydantic's union
    branch tags ("str", "list[str]") are left out."""
    name = ""
    for part in location[1:] if location[:1] == ("body",) else location:
        if isinstance(part, int):
            name += f"[{part}]"
        elif UNION_TAG.match(str(part)):
            continue
        else:
            name += f".{part}" if name else str(part)
    return name[:MAX_PARAM] or None


def validation_message(error: dict[str, Any], param: str | None) -> str:
    """pydantic's message, without the input value (it may be clinical text)."""
    kind = error.get("type", "")
    if kind == "json_invalid":
        return "The request body is not valid JSON."
    if kind == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param}."
    if kind == "missing":
        return f"Missing required parameter: {param}." if param else "The request body is missing."
    if param is None:
        return "The request body must be a JSON object of chat completion parameters."
    reason = str(error.get("msg", "not accepted")).removeprefix("Value error, ")
    return f"Invalid value for {param}: {reason}."


def validation_error(errors: list[dict[str, Any]]) -> ApiError:
    first = errors[0] if errors else {}
    param = param_name(tuple(first.get("loc", ())))
    if first.get("type") == "json_invalid":
        param = None
    return ApiError(400, validation_message(first, param), param=param)


def install_error_handlers(app: FastAPI, authenticate: Any) -> None:
    """ApiError, validation errors (400, after the key check) and unknown routes in OpenAI's shape."""

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI parses the body before route dependencies run: check the key first, so that a caller
        # without one learns nothing about what the server accepts.
        try:
            authenticate(request)
        except ApiError as denied:
            return error_response(denied)
        return error_response(validation_error(list(error.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 404:
            failure = ApiError(404, f"Unknown route {request.method} {request.url.path}.", code="not_found")
        elif error.status_code == 405:
            failure = ApiError(405, f"Method {request.method} is not allowed on {request.url.path}.", code="method_not_allowed")
        else:
            failure = ApiError(error.status_code, str(error.detail))
        failure.headers = dict(error.headers or {})
        return error_response(failure)
