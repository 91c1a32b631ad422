"""`llmtuner chat`, `infer` and `api` arguments: the same file + flags rules as the other commands."""

from typing import Any

from .config import ServeConfig
from .data_args import DataArguments
from .eval_parser import TRAINING_ONLY_DATA
from .generating_args import GeneratingArguments
from .model_args import ModelArguments
from .reader import assign_to_groups, format_groups_help, read_sources
from .serve_args import ApiArguments, InferArguments, ServingArguments
from .validate_serve import validate_serve_config

COMMON_GROUPS: tuple[type, ...] = (ModelArguments, DataArguments, GeneratingArguments, ServingArguments)
GROUPS: dict[str, tuple[type, ...]] = {
    "chat": COMMON_GROUPS,
    "infer": (*COMMON_GROUPS, InferArguments),
    "api": (*COMMON_GROUPS, ApiArguments),
}
ONLY_FOR_INFER = "Only `llmtuner infer` reads datasets; chat and api take prompts from the user or the request."
REFUSED: dict[str, dict[str, str]] = {
    "chat": {**TRAINING_ONLY_DATA, "eval_dataset": ONLY_FOR_INFER, "deidentify": ONLY_FOR_INFER},
    "infer": TRAINING_ONLY_DATA,
    "api": {**TRAINING_ONLY_DATA, "eval_dataset": ONLY_FOR_INFER, "deidentify": ONLY_FOR_INFER},
}
HEADERS = {
    "chat": "Talk to a model in the terminal: streamed answers, multi-turn history, /clear, /system TEXT, /think on|off, /exit.",
    "infer": "Generate answers for a dataset or a file of prompts into JSONL (resumable, batched).",
    "api": "Serve an OpenAI-compatible HTTP API: /v1/models, /v1/chat/completions (streaming too), /health, /metrics.",
}


def parse_serve_args(command: str, argv: list[str] | None = None, config: dict[str, Any] | None = None) -> ServeConfig:
    """Parse `[CONFIG] --key value ...` for `command` (chat, infer or api) and check every combination."""
    sources, config_file = read_sources(argv, config)
    groups = GROUPS[command]
    values, _ = assign_to_groups(sources, groups, command, refused=REFUSED[command])
    parsed = ServeConfig(
        model=ModelArguments(**values[ModelArguments]), data=DataArguments(**values[DataArguments]),
        generating=GeneratingArguments(**values[GeneratingArguments]),
        serving=ServingArguments(**values[ServingArguments]),
        api=ApiArguments(**values[ApiArguments]) if ApiArguments in values else None,
        infer=InferArguments(**values[InferArguments]) if InferArguments in values else None,
        command=command, config_file=config_file,
    )
    validate_serve_config(parsed)
    return parsed


def format_serve_help(command: str) -> str:
    header = [f"usage: llmtuner {command} [CONFIG.yaml] [--key value ...]", "", HEADERS[command]]
    return format_groups_help(header, GROUPS[command], hidden=tuple(REFUSED[command]))
