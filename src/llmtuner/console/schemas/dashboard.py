from __future__ import annotations

from pydantic import BaseModel

from .jobs import JobSummary


class Cpu(BaseModel):
    percent: float
    count: int
    load_average: list[float]


class Memory(BaseModel):
    total_bytes: int
    used_bytes: int
    percent: float


class Disk(BaseModel):
    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int


class Gpu(BaseModel):
    index: int
    name: str
    memory_total_bytes: int
    memory_used_bytes: int
    utilization_percent: float | None
    temperature_c: float | None


class SystemOut(BaseModel):
    cpu: Cpu
    memory: Memory
    disk: Disk
    gpus: list[Gpu]
    gpu_note: str | None


class Counts(BaseModel):
    datasets: int
    models: int
    jobs_by_status: dict[str, int]


class SchedulerOut(BaseModel):
    gpu_ids: list[int]
    cpu_slots: int


class DashboardOut(BaseModel):
    counts: Counts
    recent_jobs: list[JobSummary]
    system: SystemOut
    scheduler: SchedulerOut


class HealthOut(BaseModel):
    status: str
    version: str
    database: str
