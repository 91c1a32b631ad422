"""What you can say: argument groups (dataclasses with help=), one reader, one validator per command.

  reader.py             file + flags -> typed values per group (lists parsed here, once)
  config.py             TrainConfig, EvalConfig, ExportConfig, ServeConfig: the groups one command receives
  *_parser.py           one per command: its groups, its defaults, `parse_*_args`, `format_*_help`
  validate_*.py         one per command: every combination checked before anything loads
  checks.py             checks more than one validator makes
"""

from .config import EvalConfig, ExportConfig, ServeConfig, TrainConfig
from .data_args import DataArguments
from .eval_args import EvaluationArguments
from .eval_parser import format_eval_help, parse_eval_args
from .export_args import ExportArguments
from .export_parser import format_export_help, parse_export_args
from .finetuning_args import FinetuningArguments
from .generating_args import GeneratingArguments
from .model_args import ModelArguments
from .train_parser import format_train_help, parse_train_args
from .validate_train import validate_hardware

__all__ = [
    "DataArguments", "EvalConfig", "EvaluationArguments", "ExportArguments", "ExportConfig", "FinetuningArguments",
    "GeneratingArguments", "ModelArguments", "ServeConfig", "TrainConfig", "format_eval_help", "format_export_help",
    "format_train_help", "parse_eval_args", "parse_export_args", "parse_train_args", "validate_hardware",
]
