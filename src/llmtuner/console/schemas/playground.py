"""The chat playground's shapes: the running servers (serve jobs) with their models, and one chat turn forwarded to
one of them. A chat's text goes to the server and back, and nowhere else (not the audit, not the log)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_MESSAGES = 100
MAX_CONTENT = 32_000


class ServerOut(BaseModel):
    job_id: int
    name: str
    status: Literal["PENDING", "PREPARING", "RUNNING", "COMPLETED", "FAILED", "STOPPED"]
    ready: bool = Field(description="The server answers: its model is loaded.")
    models: list[str] = Field(description="What it serves (its /v1/models): the base first, then each adapter.")
    base: str | None = Field(description="The base model's name (the first of models).")
    adapters: list[str] = Field(description="The served adapters' names (the rest of models).")
    message: str | None = Field(description="Why it is not ready (still loading, not answering).")


class ServerList(BaseModel):
    items: list[ServerOut]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_CONTENT)


class PlaygroundChat(BaseModel):
    """One turn: the conversation so far, ending with the user's message, for one model of the server."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=200, description="A name from the server's models (base or adapter).")
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: int | None = Field(default=None, ge=1, le=8192, description="Default: the server's max_new_tokens.")
    temperature: float | None = Field(default=None, ge=0, le=2, description="0 = greedy; default: the server's.")
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, description="For reproducible sampling.")


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class PlaygroundAnswer(BaseModel):
    model: str
    content: str
    finish_reason: str | None
    usage: Usage | None
    safety: dict[str, Any] | None = Field(description="The server's TCM safety check of the answer (x_safety).")
    latency_s: float = Field(description="Seconds the server took, as measured by the console.")
