"""predictions.jsonl: appended as answers finish, read back to resume, rewritten with scores at the end."""

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..extras.errors import ConfigError
from ..extras.files import append_jsonl, read_jsonl, write_json, write_jsonl
from ..extras.logging import get_logger
from ..hparams import EvalConfig

logger = get_logger(__name__)


class PredictionStore:
    def __init__(self, path: str | Path, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if overwrite and self.path.exists():  # asked to start over: the old file is kept aside, not deleted
            # a unique name: two restarts within a second must not overwrite the first backup
            stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
            kept = self.path.with_name(f"{self.path.stem}.{stamp}.jsonl.bak")
            self.path.rename(kept)
            meta = self._meta
            if meta.exists():  # the settings belong to the file kept aside, not to the run about to start
                meta.rename(kept.with_name(kept.name.removesuffix(".jsonl.bak") + ".settings.json.bak"))
            logger.info("Previous predictions moved to %s.", kept)

    @property
    def _meta(self) -> Path:
        return self.path.with_name(self.path.stem + ".settings.json")

    def record_settings(self, settings: dict[str, Any]) -> None:
        """What made the file now in the store (e.g. a rescored predictions file), so no later run resumes onto it."""
        write_json(self._meta, settings)

    def check_settings(self, settings: dict[str, Any], defaults: dict[str, Any] | None = None) -> None:
        """Refuse to resume answers made with other settings (model, adapter, template, data, decoding): a
        report mixing two models would be wrong without saying so. Records the settings for the next run.
        `defaults` stand in for keys that files written by earlier versions do not have.

        Model and adapter are compared by their weights' fingerprints (CONTENT_KEYS), not their paths, when both
        runs recorded one: weights retrained in place are refused, the same weights moved elsewhere resume. A file
        from an earlier version (no fingerprint) is compared by path, as that version did."""
        meta = self._meta
        if self.path.exists() and not meta.exists():
            raise ConfigError(
                f"{self.path} holds predictions this evaluation did not make (no {meta.name} beside it); resuming or "
                "replacing them could mix or lose another run's results. Set overwrite_predictions: true to start over "
                "(the old file is kept aside), or choose another output_dir.")
        if self.path.exists():
            before = {**(defaults or {}), **json.loads(meta.read_text(encoding="utf-8"))}
            by_content = {path_key for path_key, content_key in CONTENT_KEYS.items()
                          if before.get(content_key) is not None and settings.get(content_key) is not None}
            skipped = by_content | {CONTENT_KEYS[key] for key in CONTENT_KEYS.keys() - by_content}
            changed = [_change(key, before.get(key), value, settings) for key, value in settings.items()
                       if key not in skipped and before.get(key) != value]
            if changed:
                raise ConfigError(
                    f"{self.path} holds answers made with other settings ({'; '.join(changed)}); resuming would mix "
                    "them. Set overwrite_predictions: true to start over (the old file is kept aside), or choose "
                    "another output_dir.")
        write_json(meta, settings)

    def load(self) -> dict[str, dict[str, Any]]:
        """Records already written, by id; a last line cut off by a crash is skipped (it is regenerated, and
        the next append cuts it off first)."""
        return {str(record["id"]): record for record in read_jsonl(self.path)} if self.path.exists() else {}

    def load_unchanged(self, keys: dict[str, str], legacy: Callable[[dict[str, Any], str], bool]) -> dict[str, dict[str, Any]]:
        """The records whose item is unchanged: `keys` maps each current item's id to its item_key (a hash of its
        content); a record made for an item that has changed since under the same id (edited, or another row at
        that position) is not reused, and a warning says how many (ids only: items are patients' records).
        Records of earlier versions carry no item_key: `legacy(record, id)` compares their stored text instead."""
        done = self.load()
        stale = [item_id for item_id, record in done.items() if item_id in keys and not (
            record["item_key"] == keys[item_id] if "item_key" in record else legacy(record, item_id))]
        if stale:
            shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
            logger.warning("%s: %d answer(s) were made for items that have changed since under the same id (%s); "
                           "they are made again.", self.path, len(stale), shown)
        return {item_id: record for item_id, record in done.items() if item_id not in stale}

    def append(self, records: list[dict[str, Any]]) -> None:
        append_jsonl(self.path, records)

    def rewrite(self, records: list[dict[str, Any]]) -> None:
        """Replace the file atomically (a crash leaves the old one)."""
        write_jsonl(self.path, records)


# what predictions written before the setting existed used; None for a fingerprint = not recorded (compared by path)
SETTINGS_ADDED_LATER = {"infer_backend": "hf", "template_date_string": None, "model_weights": None,
                        "adapter_weights": None, "item_keys": None}
CONTENT_KEYS = {"model": "model_weights", "adapter": "adapter_weights", "dataset_dir": "item_keys"}
"""A path setting and the content that stands for it: when both runs recorded the content, it is compared instead
of the path (dataset_dir: items are matched one by one by their item_key, `load_unchanged`)."""
ITEM_KEYS = "sha256 of id, prompt and reference"
"""item_keys for the tasks that resume item by item (qa, mcq); ppl scores every text again."""


def _change(key: str, before: Any, now: Any, settings: dict[str, Any]) -> str:
    path_key = next((path for path, content in CONTENT_KEYS.items() if content == key), None)
    if path_key in ("model", "adapter"):
        return (f"{key}: the weights in {settings.get(path_key)} are not those the answers were made with (retrained or "
                "replaced in place?)")
    return f"{key}: {before!r} -> {now!r}"


def generation_settings(args: EvalConfig) -> dict[str, Any]:
    """What decides an answer; batch_size and max_samples do not (greedy answers do not depend on them). The
    model's and adapters' weights are recorded by content (`weights_fingerprint`) beside their paths."""
    # lists as the "a,b" strings earlier versions recorded, so their predictions still resume
    joined = {key: ",".join(value) if value else None for key, value in (
        ("adapter", args.model.adapter_name_or_path), ("eval_dataset", args.data.eval_dataset))}
    adapters = [weights_fingerprint(path) for path in args.model.adapter_name_or_path or []]
    return {"task": args.eval.task, "model": args.model.model_name_or_path, "adapter": joined["adapter"],
            "template": args.data.template, "eval_dataset": joined["eval_dataset"], "dataset_dir": args.data.dataset_dir,
            "default_system": args.data.default_system, "cutoff_len": args.data.cutoff_len,
            "enable_thinking": args.data.enable_thinking, "mcq_method": args.eval.mcq_method,
            "generating": args.generating.to_generate_kwargs(), "seed": args.eval.seed,
            "infer_backend": args.eval.infer_backend, "template_date_string": args.data.template_date_string,
            "model_weights": model_fingerprint(args.model.model_name_or_path),
            "adapter_weights": ",".join(adapters) if adapters and None not in adapters else None,
            "item_keys": ITEM_KEYS if args.eval.task in ("qa", "mcq") else None}


def item_key(*content: Any) -> str:
    """A short hash of an evaluation item's content (id, prompt, reference): what a stored answer was made for."""
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def model_fingerprint(model: str | None) -> str | None:
    """weights_fingerprint of a model_name_or_path (`embedded` included); None for a hub id."""
    if not model:
        return None
    from ..model.loader import resolve_model_path  # `embedded`: the tiny model's folder (built on first use)

    return weights_fingerprint(resolve_model_path(model))


SAMPLE = 1 << 20  # bytes read at each sampled place of a weights file
_WEIGHTS = re.compile(r".*\.(safetensors|gguf)|(pytorch_model|adapter_model|model|consolidated)\b.*\.(bin|pt|pth)"
                      r"|.*\.index\.json")


def weights_fingerprint(folder: str | Path) -> str | None:
    """sha256 over the weights of a local model or adapter folder, fast enough for a 15 GB model (a few MiB read):
    each index file whole; of each weights file its name, size, safetensors header, and 1 MiB at its start, at
    three places between and at its end (the whole file when small). Paths and times are not part of it, so a
    copied or moved folder keeps its fingerprint. None when `folder` is not a local folder (a hub id) or holds no
    weights: the path is compared then."""
    folder = Path(folder)
    files = sorted(path for path in folder.iterdir() if path.is_file() and _WEIGHTS.fullmatch(path.name)) \
        if folder.is_dir() else []
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.name}\0{size}\0".encode())
        with path.open("rb") as handle:
            if path.suffix == ".safetensors" and size >= 8:
                length = int.from_bytes(handle.read(8), "little")
                digest.update(handle.read(min(length, size - 8, 100 << 20)))  # the header: tensor names, dtypes, shapes
            for offset in sorted({0, *(size * part // 4 for part in (1, 2, 3)), max(0, size - SAMPLE)}):
                handle.seek(offset)
                digest.update(handle.read(SAMPLE))
    return digest.hexdigest()
