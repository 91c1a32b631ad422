"""A job's config: the same keys as a YAML config of `llmtuner train|eval|export`, checked by the project's own
parsers before the job is accepted (a typo fails with the key and the closest valid name), and completed with
the folders the console owns: output_dir (export_dir) under the job's folder, dataset_dir = the console's datasets.

Paths in a config are best absolute: the job runs in its own folder, so a relative path is relative to it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ...extras.errors import ConfigError

KINDS = ("train", "eval", "export")
OUTPUT_KEY = {"train": "output_dir", "eval": "output_dir", "export": "export_dir"}
CONFIG_NAME = "config.yaml"
LOG_NAME = "job.log"


def complete_config(kind: str, config: dict[str, Any], job_dir: Path, datasets_dir: Path) -> dict[str, Any]:
    filled = dict(config)
    if filled.get(OUTPUT_KEY[kind]) in (None, ""):
        filled[OUTPUT_KEY[kind]] = str(job_dir / "output")
    if kind in ("train", "eval") and filled.get("dataset_dir") in (None, ""):
        filled["dataset_dir"] = str(datasets_dir)
    return filled


def validate_config(kind: str, config: dict[str, Any]) -> list[str]:
    """Parse and check `config` as the command would; returns the dataset names it reads. Raises UserError."""
    from ... import hparams

    if kind == "train":
        parsed = hparams.parse_train_args(config=config)
        from ...data.pipeline import check_data_arguments

        check_data_arguments(parsed.data, parsed.finetuning.stage)
        return [*(parsed.data.dataset or []), *(parsed.data.eval_dataset or [])]
    if kind == "eval":
        evaluation = hparams.parse_eval_args(config=config)
        return [*(evaluation.data.eval_dataset or []), *(evaluation.data.dataset or [])]
    if kind == "export":
        hparams.parse_export_args(config=config)
        return []
    raise ConfigError(f"kind {kind!r} is not one of {', '.join(KINDS)}.")


def restart_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """A restart resumes from the last checkpoint: it must not start over, whatever the first run said."""
    if kind == "train" and config.get("overwrite_output_dir"):
        return {**config, "overwrite_output_dir": False}
    return config


def write_config(path: Path, config: dict[str, Any]) -> None:
    import yaml

    from ...extras.files import write_text

    write_text(path, "# written by `llmtuner console`: the job runs `llmtuner <kind> config.yaml` in this folder\n"
               + yaml.safe_dump(config, allow_unicode=True, sort_keys=False))


_KEY = re.compile(r"`([A-Za-z_][\w.]*)`")
_MISSING = re.compile(r"^\s*-?\s*([A-Za-z_]\w*) (?:is|must|and|has|needs)\b", re.MULTILINE)


def error_key(message: str, config: dict[str, Any]) -> str | None:
    """The config key a ConfigError is about, when its message names one (for the 422's `loc`)."""
    for match in _KEY.finditer(message):
        if match.group(1) in config:
            return match.group(1)
    named = _KEY.search(message) or _MISSING.search(message)
    return named.group(1) if named else None
