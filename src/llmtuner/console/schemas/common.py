"""Shapes every resource shares: error bodies and names."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="Letters, digits, `_`, `.` and `-`; at most 64; "
                                                              "starts with a letter or digit.")]


MAX_INT = 2**31 - 1
"""Ids and offsets fit a 32-bit column on every database."""
Id = Annotated[int, Path(ge=1, le=MAX_INT)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorOut(BaseModel):
    """401, 403, 404, 409, 413, 429: what is wrong and the fix, in one sentence or two."""

    detail: str


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description="Where: e.g. [\"body\", \"config\", \"learning_rte\"] or [\"body\", \"file\"].")
    msg: str
    type: str
    line: str | None = Field(default=None, description="For a dataset upload: the line (or row) of the record.")


class FieldErrorOut(BaseModel):
    """422: every problem with the field it is about (the same shape as FastAPI's own validation errors)."""

    detail: list[FieldProblem]


BODY_ERRORS = {400: {"model": ErrorOut, "description": "The body could not be parsed (not JSON, not multipart)"},
               413: {"model": ErrorOut, "description": "The body is larger than the limit"}}
ERRORS = {401: {"model": ErrorOut, "description": "Not signed in, or the token expired"},
          403: {"model": ErrorOut, "description": "The role may not do this, or the CSRF check failed"}}
WRITE_ERRORS = {**ERRORS, 422: {"model": FieldErrorOut, "description": "A field is wrong (named in loc)"}}
NOT_FOUND = {404: {"model": ErrorOut, "description": "No such object"}}
CONFLICT = {409: {"model": ErrorOut, "description": "Conflicts with the current state (in use, already exists)"}}


def json_errors(*codes: int) -> dict[int, dict]:
    """Error answers of a route whose own answers are not JSON (the SSE stream): their JSON bodies, spelled out."""
    known = {**BODY_ERRORS, **WRITE_ERRORS, **NOT_FOUND, **CONFLICT}
    return {code: {"description": known[code]["description"], "content": {"application/json": {"schema": {
        "$ref": f"#/components/schemas/{known[code]['model'].__name__}"}}}} for code in codes}
