from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from .common import Out

DatasetFormat = Literal["alpaca", "sharegpt", "text", "preference", "kto", "mcq"]


class Deidentification(BaseModel):
    counts: dict[str, int] = Field(description="Identifiers found per kind (id_card, mobile, name, ...); never the text.")
    records_with_identifiers: int


class DatasetOut(Out):
    id: int
    name: str = Field(description="What a job's config names in `dataset` / `eval_dataset`.")
    format: DatasetFormat
    file_type: Literal["json", "jsonl", "csv", "text", "parquet"]
    original_name: str
    num_samples: int
    size_bytes: int
    sha256: str
    columns: list[str]
    deidentification: Deidentification
    created_at: datetime
    created_by: int | None
    used_by_jobs: list[int] = Field(description="Ids of jobs that are not finished and read this dataset.")


class DatasetList(BaseModel):
    items: list[DatasetOut]
    total: int


class Segment(BaseModel):
    text: str
    learned: bool = Field(description="False: masked (label -100), the model reads it but is not trained on it.")


class PreviewRow(BaseModel):
    index: int
    answer: Literal["chosen", "rejected"] | None = Field(description="Preference pairs: which answer this row shows "
                                                                     "(KTO: chosen = a desirable answer, rejected = not).")
    num_tokens: int
    segments: list[Segment]


class PreviewStats(BaseModel):
    samples: int
    kept: int
    dropped: dict[str, int]
    truncated: int
    tokens: dict[str, int] = Field(description="Tokens per sample: p50, p90, p95, p99, max.")
    total_tokens: int


class PreviewOut(BaseModel):
    dataset: str
    format: DatasetFormat
    stage: str
    model: str
    template: str | None
    cutoff_len: int
    rows: list[PreviewRow]
    stats: PreviewStats
