"""predictions.jsonl: appended as answers finish, read back to resume, rewritten with scores at the end."""

import json
import time
import uuid
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
        `defaults` stand in for keys that files written by earlier versions do not have."""
        meta = self._meta
        if self.path.exists() and not meta.exists():
            raise ConfigError(
                f"{self.path} holds predictions this evaluation did not make (no {meta.name} beside it); resuming or "
                "replacing them could mix or lose another run's results. Set overwrite_predictions: true to start over "
                "(the old file is kept aside), or choose another output_dir.")
        if self.path.exists():
            before = {**(defaults or {}), **json.loads(meta.read_text(encoding="utf-8"))}
            changed = [f"{key}: {before.get(key)!r} -> {value!r}" for key, value in settings.items() if before.get(key) != value]
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

    def append(self, records: list[dict[str, Any]]) -> None:
        append_jsonl(self.path, records)

    def rewrite(self, records: list[dict[str, Any]]) -> None:
        """Replace the file atomically (a crash leaves the old one)."""
        write_jsonl(self.path, records)


SETTINGS_ADDED_LATER = {"infer_backend": "hf", "template_date_string": None}  # what predictions written before the setting existed used


def generation_settings(args: EvalConfig) -> dict[str, Any]:
    """What decides an answer; batch_size and max_samples do not (greedy answers do not depend on them)."""
    # lists as the "a,b" strings earlier versions recorded, so their predictions still resume
    joined = {key: ",".join(value) if value else None for key, value in (
        ("adapter", args.model.adapter_name_or_path), ("eval_dataset", args.data.eval_dataset))}
    return {"task": args.eval.task, "model": args.model.model_name_or_path, "adapter": joined["adapter"],
            "template": args.data.template, "eval_dataset": joined["eval_dataset"], "dataset_dir": args.data.dataset_dir,
            "default_system": args.data.default_system, "cutoff_len": args.data.cutoff_len,
            "enable_thinking": args.data.enable_thinking, "mcq_method": args.eval.mcq_method,
            "generating": args.generating.to_generate_kwargs(), "seed": args.eval.seed,
            "infer_backend": args.eval.infer_backend, "template_date_string": args.data.template_date_string}
