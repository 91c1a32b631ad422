"""What each command receives: its argument groups, read and checked (one container per command).

A `*Config` holds the groups of one command; a `*Arguments` class is one group of fields (with `help=`),
shared between commands where they mean the same thing (ModelArguments in train, eval and export).
"""

from dataclasses import dataclass, field
from typing import Any

from .data_args import DataArguments
from .eval_args import EvaluationArguments
from .export_args import ExportArguments
from .finetuning_args import FinetuningArguments
from .generating_args import GeneratingArguments
from .model_args import ModelArguments
from .serve_args import ApiArguments, InferArguments, ServingArguments


@dataclass
class TrainConfig:
    """`llmtuner train` / `preview`: everything a training run needs, grouped as in the config reference."""

    model: ModelArguments
    data: DataArguments
    finetuning: FinetuningArguments
    generating: GeneratingArguments
    training: dict[str, Any] = field(default_factory=dict)
    """Seq2SeqTrainingArguments keys and values; `train.training_arguments` turns them into the object."""
    config_file: str | None = None


@dataclass
class EvalConfig:
    """`llmtuner eval` / `python src/evaluate.py`."""

    model: ModelArguments
    data: DataArguments
    generating: GeneratingArguments
    eval: EvaluationArguments
    config_file: str | None = None


@dataclass
class ExportConfig:
    """`llmtuner export` / `python src/export_model.py`."""

    model: ModelArguments
    export: ExportArguments
    config_file: str | None = None


@dataclass
class ServeConfig:
    """`llmtuner chat`, `infer` and `api`: `api` is set for the server, `infer` for batch inference."""

    model: ModelArguments
    data: DataArguments
    generating: GeneratingArguments
    serving: ServingArguments
    api: ApiArguments | None = None
    infer: InferArguments | None = None
    command: str = "chat"
    config_file: str | None = None
