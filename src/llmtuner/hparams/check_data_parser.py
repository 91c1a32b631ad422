"""`llmtuner check-data` arguments: the same file + flags rules as training, one group, checked here."""

from pathlib import Path
from typing import Any

from .check_data_args import CheckDataArguments
from .checks import fail
from .reader import assign_to_groups, format_groups_help, read_sources

CHECK_DATA_GROUPS: tuple[type, ...] = (CheckDataArguments,)


def validate_check_data_args(args: CheckDataArguments) -> None:
    """Raise one ConfigError listing every problem found, before any data is read."""
    problems: list[str] = []
    if not args.dataset:
        problems.append("dataset is missing: the training data to check, e.g. --dataset medical_sft,medical_pt "
                        "(names in dataset_dir/dataset_info.json) or --dataset path/to/train.jsonl.")
    for name in ("threshold", "near_duplicate_threshold", "common_gram_share"):
        value = getattr(args, name)
        if not 0 < value <= 1:
            problems.append(f"{name} is a share and must be in (0, 1], got {value}.")
    if args.min_chars < 4:
        problems.append(f"min_chars must be at least 4 (one 4-gram), got {args.min_chars}.")
    if args.output:
        target = Path(args.output)
        if target.is_dir():
            problems.append(f"output {args.output} is a folder; give a file name, e.g. {target / 'check_data.json'}.")
        elif not target.parent.is_dir():
            problems.append(f"output: folder {target.parent} does not exist; create it or write the report elsewhere.")
    fail(problems)


def parse_check_data_args(argv: list[str] | None = None, config: dict[str, Any] | None = None) -> CheckDataArguments:
    """Parse `[CONFIG] --key value ...` for check-data and check every value."""
    sources, _ = read_sources(argv, config)
    values, _ = assign_to_groups(sources, CHECK_DATA_GROUPS, "check-data")
    args = CheckDataArguments(**values[CheckDataArguments])
    validate_check_data_args(args)
    return args


def format_check_data_help() -> str:
    header = ["usage: llmtuner check-data [CONFIG.yaml] --dataset NAMES [--eval_dataset NAMES] [--key value ...]", "",
              "Find exact and near duplicates in the training data, and evaluation questions or answers that are",
              "mostly contained in one training document (contamination). Prints sample ids, shares and positions;",
              "text only with --show_text."]
    return format_groups_help(header, CHECK_DATA_GROUPS)
