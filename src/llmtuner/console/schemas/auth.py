from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from .users import UserOut


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    access_token: str = Field(description="Send as `Authorization: Bearer <access_token>` (API clients).")
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    csrf_token: str = Field(description="Browsers: send as the X-CSRF-Token header on writes (also in the "
                                        "llmtuner_csrf cookie).")
    user: UserOut
