from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from .common import Name, Out

Role = Literal["admin", "engineer", "viewer"]


class UserOut(Out):
    id: int
    username: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


class UserList(BaseModel):
    items: list[UserOut]
    total: int


class UserCreate(BaseModel):
    username: Name
    password: str = Field(min_length=1, max_length=1024, description="At least 12 characters.")
    role: Role


class UserUpdate(BaseModel):
    role: Role | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    disabled: bool | None = None
