"""`llmtuner export` arguments: the same file + flags rules as training, with the export groups."""

from typing import Any

from .config import ExportConfig
from .export_args import ExportArguments
from .model_args import ModelArguments
from .reader import assign_to_groups, format_groups_help, read_sources
from .validate_export import validate_export_config

EXPORT_GROUPS: tuple[type, ...] = (ModelArguments, ExportArguments)
# Model arguments that would contradict the export's own: say which key to use instead.
REPLACED_KEYS = {
    "dtype": "The release dtype is `export_dtype` (auto, bf16, fp16, fp32); merging itself runs in fp32.",
    "torch_dtype": "The release dtype is `export_dtype` (auto, bf16, fp16, fp32).",
    "output_dir": "The merged model goes to `export_dir`.",
    "export_quantization_dataset": "Only bitsandbytes quantisation is supported: `export_quantization_bit: 4` or 8.",
}


def parse_export_args(argv: list[str] | None = None, config: dict[str, Any] | None = None) -> ExportConfig:
    """Parse `[CONFIG] --key value ...` for the exporter and check every combination."""
    sources, config_file = read_sources(argv, config)
    values, _ = assign_to_groups(sources, EXPORT_GROUPS, "export", refused=REPLACED_KEYS)
    parsed = ExportConfig(model=ModelArguments(**values[ModelArguments]),
                          export=ExportArguments(**values[ExportArguments]), config_file=config_file)
    validate_export_config(parsed)
    return parsed


def format_export_help() -> str:
    header = ["usage: llmtuner export [CONFIG.yaml] [--key value ...]   (also: python src/export_model.py ...)", "",
              "Merge LoRA adapters into the base model and write a verified, deployable release:",
              "sharded safetensors, tokenizer with the training chat template, generation_config, model card."]
    return format_groups_help(header, EXPORT_GROUPS, hidden=tuple(REPLACED_KEYS))
