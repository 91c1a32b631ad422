"""What you can say: argument dataclasses, the parser and the one validator."""

from .data_args import DataArguments
from .eval_args import EvaluationArguments
from .eval_parser import EvalArguments, format_eval_help, parse_eval_args
from .export_args import ExportArguments
from .export_parser import ExportArgs, format_export_help, parse_export_args
from .finetuning_args import FinetuningArguments
from .generating_args import GeneratingArguments
from .model_args import ModelArguments
from .parser import Arguments, build_training_arguments, format_help, parse_args

__all__ = [
    "Arguments", "DataArguments", "EvalArguments", "EvaluationArguments", "ExportArgs", "ExportArguments",
    "FinetuningArguments", "GeneratingArguments", "ModelArguments", "build_training_arguments", "format_eval_help",
    "format_export_help", "format_help", "parse_args", "parse_eval_args", "parse_export_args",
]
