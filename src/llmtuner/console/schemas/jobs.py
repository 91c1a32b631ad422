from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import Out

JobKind = Literal["train", "eval", "export", "serve"]
JobStatus = Literal["PENDING", "PREPARING", "RUNNING", "COMPLETED", "FAILED", "STOPPED"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class JobCreate(BaseModel):
    kind: JobKind = Field(description="The CLI command the job runs: `llmtuner <kind> config.yaml` (serve: `llmtuner api`, "
                                      "an OpenAI-compatible server for the playground, running until stopped).")
    name: str = Field(min_length=1, max_length=100)
    config: dict[str, Any] = Field(description="The same keys as a YAML config of that command. output_dir (export: "
                                               "export_dir) and dataset_dir are filled in when not given; a serve "
                                               "job's host, port and api_key_file are the console's.")
    priority: int = Field(default=0, ge=-100, le=100, description="Higher starts first.")
    gpus: int | None = Field(default=None, ge=0, le=64, description="GPUs the job needs; 0: a CPU slot. Default: 1 "
                                                                     "where the console has GPUs, else 0.")


class JobEventOut(Out):
    at: datetime
    from_status: JobStatus | None
    to_status: JobStatus
    reason: str | None


class JobSummary(Out):
    id: int
    name: str
    kind: JobKind
    status: JobStatus
    priority: int
    gpus: int
    devices: list[int | str] = Field(description="What the scheduler gave it: GPU ids, or [\"cpu\"].")
    output_dir: str
    stop_requested: bool
    attempts: int
    created_by: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobOut(JobSummary):
    config: dict[str, Any]
    datasets: list[str]
    job_dir: str
    pid: int | None
    exit_code: int | None
    error: str | None = Field(description="Why it failed, with the log's last lines.")
    history: list[JobEventOut] = Field(validation_alias="events")


class JobList(BaseModel):
    items: list[JobSummary]
    total: int


class LogLineOut(BaseModel):
    offset: int = Field(description="Byte offset of the line in the log: its id (SSE event id, Last-Event-ID).")
    level: LogLevel
    text: str


class LogsOut(BaseModel):
    lines: list[LogLineOut]
    next_offset: int = Field(description="Where the stream goes on from (GET .../logs/stream?offset=).")
    status: JobStatus


class MetricPoint(BaseModel):
    """One line of trainer_log.jsonl (other keys a run logs are kept)."""

    model_config = ConfigDict(extra="allow")
    step: int
    total_steps: int | None = None
    epoch: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    tokens_per_s: float | None = None
    elapsed_s: float | None = None
    eta_s: float | None = None


class MetricsOut(BaseModel):
    kind: JobKind
    status: JobStatus
    train: list[MetricPoint] = Field(description="Training steps (loss, lr, ...), after since_step.")
    eval: list[MetricPoint] = Field(description="Evaluation steps during training (eval_loss, ...).")
    latest: MetricPoint | None
    total_steps: int | None
    steps_per_second: float | None
    results: dict[str, Any] | None = Field(description="When finished: all_results.json (train), metrics.json "
                                                       "(eval), export_info.json facts (export).")
