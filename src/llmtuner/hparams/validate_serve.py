"""The checks of `llmtuner chat`, `infer` and `api`: every combination, before any model loads.

The template is settled here too: what a clinician sees must be rendered exactly as the model was trained and
evaluated, so the template defaults to the one the training run recorded (the last adapter's, or a fine-tuned
or exported model's own record), and a different one is refused unless `force_template`.
"""

import json
import os
import re
from pathlib import Path
from typing import Any

from ..extras.constants import RELEASE_INFO, RUN_RECORD
from .checks import check_adapter_folders, check_model_source, fail, template_list
from .config import ServeConfig
from .vllm_checks import check_vllm

API_KEYS_ENV = "LLMTUNER_API_KEYS"
ADAPTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


def validate_serve_config(config: ServeConfig) -> None:
    """Raise one ConfigError listing every problem found; fills `template` (and its system prompt) from the record."""
    model, serving, problems = config.model, config.serving, []
    check_model_source(model, problems)
    if not model.model_name_or_path:
        problems.append("model_name_or_path is missing: the model to serve (a folder, a release from `llmtuner export`, or "
                        "`embedded` for the tiny CPU model).")
    check_adapter_folders(model.adapter_name_or_path, problems, complete=True, generative=True)
    parse_adapters(serving.adapters, problems)
    if serving.max_concurrency < 1:
        problems.append(f"max_concurrency must be at least 1, got {serving.max_concurrency}.")
    if serving.max_queue < 0:
        problems.append(f"max_queue must be 0 or more, got {serving.max_queue}.")
    if serving.batch_wait_ms < 0:
        problems.append(f"batch_wait_ms must be 0 or more, got {serving.batch_wait_ms}.")
    if config.generating.max_new_tokens <= 0:
        problems.append(f"max_new_tokens must be positive, got {config.generating.max_new_tokens}.")
    if config.generating.num_beams != 1:
        problems.append(f"num_beams {config.generating.num_beams}: serving decodes greedily or by sampling, token by token "
                        "(streaming, batching); use num_beams: 1, or `llmtuner eval` for beam search.")
    if serving.infer_backend == "vllm":
        adapters = [path for _, path in parse_adapters(serving.adapters, [])]
        check_vllm(model, config.generating, serving, problems, extra_adapters=adapters)
    if config.api is not None:
        _check_api(config, problems)
    if config.infer is not None:
        _check_infer(config, problems)
    fail(problems)
    settle_template(config, problems)
    fail(problems)


def parse_adapters(entries: list[str] | None, problems: list[str]) -> list[tuple[str, str]]:
    """`name=path` entries of `adapters` as (name, path); problems are appended, bad entries left out."""
    pairs: list[tuple[str, str]] = []
    for entry in entries or []:
        name, sep, path = entry.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            problems.append(f"adapters entry {entry!r}: write name=path (e.g. tcm=saves/tcm-lora), comma-separated.")
            continue
        if not ADAPTER_NAME.match(name):
            problems.append(f"adapters name {name!r}: use letters, digits and . _ - : / only (it is the request's `model`).")
            continue
        if name in (n for n, _ in pairs):
            problems.append(f"adapters name {name!r} is given twice: each served adapter needs its own name.")
            continue
        _check_adapter_folder(path, f"adapters {name}", problems, mixed_batch=True)
        pairs.append((name, path))
    return pairs


def _check_adapter_folder(path: str, what: str, problems: list[str], mixed_batch: bool = False) -> None:
    before = len(problems)
    check_adapter_folders([path], problems, complete=True, key=what, generative=True)
    if len(problems) > before or not mixed_batch:
        return
    adapter = json.loads((Path(path) / "adapter_config.json").read_text(encoding="utf-8"))
    if adapter.get("use_dora"):
        problems.append(f"{what}: {path} is a DoRA adapter, which peft cannot mix with other adapters in one batch. "
                        "Serve it merged: --adapter_name_or_path (merged into the base) or a release from `llmtuner export`.")


def _check_api(config: ServeConfig, problems: list[str]) -> None:
    api = config.api
    assert api is not None
    if not 0 <= api.port <= 65535:
        problems.append(f"port must be in 0..65535 (0 = any free port), got {api.port}.")
    if api.max_body_bytes < 1024:
        problems.append(f"max_body_bytes must be at least 1024, got {api.max_body_bytes}.")
    try:
        keys = collect_api_keys(api.api_key, api.api_key_file)
    except OSError as error:
        problems.append(f"api_key_file {api.api_key_file} cannot be read ({error.strerror}). Give a readable file with one key per line.")
        return
    if not keys:
        problems.append(f"the API needs at least one key: --api_key KEY, the environment variable {API_KEYS_ENV}, or "
                        "--api_key_file FILE (one key per line). Make one with `python -c \"import secrets; "
                        "print(secrets.token_urlsafe(32))\"`; clients send it as `Authorization: Bearer KEY`.")
    if api.audit_log and Path(api.audit_log).is_dir():
        problems.append(f"audit_log {api.audit_log} is a folder: give a file path (JSON lines are appended to it).")


def collect_api_keys(flags: list[str] | None, key_file: str | None) -> list[str]:
    """Every accepted key: flags, the environment variable, the key file (blank lines and # comments skipped)."""
    keys = [key.strip() for key in flags or []]
    keys += [key.strip() for key in os.environ.get(API_KEYS_ENV, "").split(",")]
    if key_file:
        lines = Path(key_file).read_text(encoding="utf-8").splitlines()
        keys += [line.strip() for line in lines if not line.strip().startswith("#")]
    return list(dict.fromkeys(key for key in keys if key))


def _check_infer(config: ServeConfig, problems: list[str]) -> None:
    infer = config.infer
    assert infer is not None
    if bool(infer.input_file) == bool(config.data.eval_dataset):
        problems.append("infer needs exactly one source of prompts: input_file (a .json/.jsonl/.txt file) or eval_dataset "
                        "(names from dataset_info.json).")
    if infer.input_file and not Path(infer.input_file).is_file():
        problems.append(f"input_file {infer.input_file} does not exist.")
    if not infer.output_file:
        problems.append("output_file is missing: the JSONL file the answers go to.")
    elif Path(infer.output_file).is_dir():
        problems.append(f"output_file {infer.output_file} is a folder: give a file path such as {infer.output_file}/answers.jsonl.")


def recorded_template(model_path: str | None, adapters: list[str]) -> tuple[dict[str, Any], str] | None:
    """(the data settings a run recorded: template, default_system, template_date_string; where) or None.

    The last adapter's llmtuner_args.json wins; else the model folder's own (a full fine-tune's output), else a
    release's export_info.json (template name only)."""
    for folder in [*reversed(adapters), model_path]:
        if not folder:
            continue
        record = _read_json(Path(folder) / RUN_RECORD)
        data = record.get("data") or {}
        if data.get("template"):
            return data, str(Path(folder) / RUN_RECORD)
        info = _read_json(Path(folder) / RELEASE_INFO)
        if info.get("template"):
            return {"template": info["template"]}, str(Path(folder) / RELEASE_INFO)
    return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def settle_template(config: ServeConfig, problems: list[str]) -> None:
    """Fill template, default_system and template_date_string from the training record; refuse another template."""
    data, model = config.data, config.model
    found = recorded_template(model.model_name_or_path, list(model.adapter_name_or_path or []))
    if found is not None:
        recorded, where = found
        if data.template and data.template != recorded["template"] and not config.serving.force_template:
            problems.append(f"template {data.template!r} differs from {recorded['template']!r}, which {where} records: "
                            "answers would not be rendered as the model was trained and evaluated. Leave template out to "
                            "use the recorded one, or set force_template: true.")
            return
        data.template = data.template or recorded["template"]
        if data.template == recorded["template"]:
            if data.default_system is None:
                data.default_system = recorded.get("default_system")
            if data.template_date_string is None:
                data.template_date_string = recorded.get("template_date_string")
    if not data.template:
        problems.append(f"template is missing and no training record names one: set `template` ({template_list()}).")
        return
    for name, path in parse_adapters(config.serving.adapters, []):
        other = recorded_template(None, [path])
        if other and other[0]["template"] != data.template and not config.serving.force_template:
            problems.append(f"adapters {name}: {other[1]} records template {other[0]['template']!r}, but the server renders "
                            f"{data.template!r}: one server uses one template. Serve it from its own `llmtuner api`, or "
                            "set force_template: true.")
