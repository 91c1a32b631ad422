"""What a model folder is, read from its small files only: kind, architecture, size, and the recorded template.

- an adapter: adapter_config.json (peft type, base model);
- a release (`llmtuner export`): export_info.json, whose template the serving commands use;
- a model: config.json (`architectures`), parameters counted from the safetensors headers (no weights load);
- the template a training run recorded: llmtuner_args.json (`data.template`).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..extras.constants import DEFAULT_TINY_MODEL_DIR, PROJECT_ROOT, RELEASE_INFO, RUN_RECORD

EMBEDDED = "embedded"


def embedded_path() -> Path:
    return PROJECT_ROOT / DEFAULT_TINY_MODEL_DIR


@dataclass
class ModelFacts:
    kind: str
    architecture: str | None = None
    num_parameters: int | None = None
    size_bytes: int | None = None
    template: str | None = None
    base_model: str | None = None


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _safetensors_parameters(path: Path) -> int:
    """Parameters in one .safetensors file, from its JSON header (8 bytes of length, then the header)."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > 100 * 2**20:
            return 0
        header = json.loads(handle.read(length))
    total = 0
    for name, tensor in header.items():
        if name != "__metadata__" and isinstance(tensor, dict):
            count = 1
            for dimension in tensor.get("shape", []):
                count *= int(dimension)
            total += count
    return total


def _weights_size(folder: Path) -> tuple[int, int | None]:
    """(bytes of the folder's own files, parameters in its safetensors files or None); checkpoints not counted."""
    size, parameters, counted = 0, 0, False
    for path in folder.iterdir():
        if path.is_file():
            size += path.stat().st_size
            if path.suffix == ".safetensors":
                try:
                    parameters += _safetensors_parameters(path)
                    counted = True
                except (OSError, ValueError, struct.error):
                    pass
    return size, parameters if counted else None


def is_model_folder(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).is_file() for name in ("config.json", "adapter_config.json", RELEASE_INFO))


def inspect_model(folder: Path, kind: str | None = None) -> ModelFacts:
    """The facts of `folder`; `kind` when the caller knows it (embedded, local), else it is read from the files."""
    adapter = _json(folder / "adapter_config.json")
    release = _json(folder / RELEASE_INFO)
    config = _json(folder / "config.json")
    record = _json(folder / RUN_RECORD)
    if kind is None:
        kind = "release" if release else "adapter" if adapter else "full"
    if adapter:
        architecture = f"{adapter.get('peft_type', 'peft')} adapter"
        base = adapter.get("base_model_name_or_path")
    else:
        architectures = config.get("architectures") or []
        architecture = architectures[0] if architectures else config.get("model_type")
        base = release.get("base_model") if isinstance(release.get("base_model"), str) else None
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    template = release.get("template") or data.get("template")
    size, parameters = _weights_size(folder) if folder.is_dir() else (None, None)
    return ModelFacts(kind=kind, architecture=architecture, num_parameters=parameters, size_bytes=size,
                      template=template if isinstance(template, str) else None, base_model=base)


def config_keys(kind: str, path: str, base_model: str | None) -> dict[str, str]:
    """The config keys that use this model in a job (what the interface puts into a job's config)."""
    if kind == EMBEDDED:
        return {"model_name_or_path": EMBEDDED}
    if kind == "adapter" and base_model:
        base = EMBEDDED if Path(base_model).resolve() == embedded_path().resolve() else base_model
        return {"model_name_or_path": base, "adapter_name_or_path": path}
    return {"model_name_or_path": path}
