"""A job's config: the same keys as a YAML config of `llmtuner train|eval|export`, checked by the project's own
parsers before the job is accepted (a typo fails with the key and the closest valid name), and completed with
the folders the console owns: output_dir (export_dir) under the job's folder, dataset_dir = the console's datasets.

A `serve` job runs `llmtuner api` (the chat playground talks to it): its keys are those of ServingArguments,
ApiArguments and the model/generation groups; the console owns where it listens and its key. host is always
127.0.0.1, port a free loopback port chosen here (a new one on restart), and the API key a random one in a 0600
file of the job's folder (api_key_file: never on the command line, never in the config, never sent to a browser).
It writes no model, so it has no output_dir, and it runs until stopped.

Paths in a config are best absolute: the job runs in its own folder, so a relative path is relative to it.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ...extras.errors import ConfigError

KINDS = ("train", "eval", "export", "serve")
OUTPUT_KEY = {"train": "output_dir", "eval": "output_dir", "export": "export_dir"}
"""The key naming the folder a kind writes its result to (a serve job writes none)."""
CONFIG_NAME = "config.yaml"
LOG_NAME = "job.log"
SERVE = "serve"
COMMAND = {SERVE: "api"}
"""The `llmtuner` command a kind runs, where it is not the kind's own name."""
SERVE_HOST = "127.0.0.1"
API_KEY_NAME = "api_key"
"""The file in a serve job's folder holding its API key (0600)."""
CONSOLE_OWNED = {
    "host": "the console serves on 127.0.0.1 only (the playground reaches it there)",
    "port": "the console chooses a free loopback port",
    "api_key": "the console makes a random key and keeps it in a file of the job's folder",
    "api_key_file": "the console makes a random key and keeps it in a file of the job's folder",
}
"""Keys a serve job's config may not set, and why."""


def free_port(taken: Collection[int] = ()) -> int:
    """A TCP port free on 127.0.0.1 now, not in `taken` (the ports of other serve jobs that have not bound yet)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((SERVE_HOST, 0))
            port = int(probe.getsockname()[1])
        if port not in taken:
            return port
    raise ConfigError("No free TCP port on 127.0.0.1 was found for the serve job: stop some servers and try again.")


def complete_config(kind: str, config: dict[str, Any], job_dir: Path, datasets_dir: Path,
                    ports_taken: Collection[int] = ()) -> dict[str, Any]:
    """`config` with the keys the console owns filled in. Raises ConfigError for a serve job that sets one of them."""
    filled = dict(config)
    if kind == SERVE:
        owned = [key for key in CONSOLE_OWNED if key in filled]
        if owned:
            raise ConfigError(f"`{owned[0]}` cannot be set for a serve job: {CONSOLE_OWNED[owned[0]]}. Leave it out.")
        filled.update(host=SERVE_HOST, port=free_port(ports_taken), api_key_file=str(job_dir / API_KEY_NAME))
        return filled
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
    if kind == SERVE:
        from ...hparams.serve_parser import parse_serve_args

        # the key file is written once the config is accepted: check with a key of the same kind meanwhile
        parse_serve_args("api", config={**{k: v for k, v in config.items() if k != "api_key_file"},
                                        "api_key": [secrets.token_urlsafe(32)]})
        return []
    raise ConfigError(f"kind {kind!r} is not one of {', '.join(KINDS)}.")


def restart_config(kind: str, config: dict[str, Any], ports_taken: Collection[int] = ()) -> dict[str, Any]:
    """A restart resumes from the last checkpoint: it must not start over, whatever the first run said. A serve job
    gets a port free now (its old one may have been taken meanwhile)."""
    if kind == "train" and config.get("overwrite_output_dir"):
        return {**config, "overwrite_output_dir": False}
    if kind == SERVE:
        return {**config, "port": free_port(ports_taken)}
    return config


def write_api_key(job_dir: Path) -> Path:
    """A new random API key for a serve job, in a file only the console's user can read; returns its path."""
    job_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = job_dir / API_KEY_NAME
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT
    return path


def read_api_key(config: dict[str, Any]) -> str:
    """A serve job's key, from its key file (raises OSError when it is gone)."""
    return Path(config["api_key_file"]).read_text(encoding="utf-8").strip()


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
