from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from .common import Name, Out

ModelKind = Literal["embedded", "local", "adapter", "full", "release"]


class ModelOut(Out):
    id: int
    name: str
    kind: ModelKind = Field(description="embedded (the built-in tiny model), local (a registered folder), adapter or "
                                        "full (made by a training job), release (made by an export job).")
    path: str
    architecture: str | None
    num_parameters: int | None
    size_bytes: int | None
    template: str | None = Field(description="The chat template its training or release recorded.")
    base_model: str | None
    job_id: int | None
    created_at: datetime
    config: dict[str, str] = Field(description="The keys that use this model in a job's config.")


class ModelList(BaseModel):
    items: list[ModelOut]
    total: int


class ModelCreate(BaseModel):
    name: Name
    path: str = Field(min_length=1, max_length=1024, description="A folder on the server: a model (config.json), an "
                                                                 "adapter (adapter_config.json) or a release.")
