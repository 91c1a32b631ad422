"""A job's numbers, read from the files the run writes (live: a running job's files are read as they grow).

Training: `trainer_log.jsonl` in output_dir (one record per logging step, written by train.callbacks:
step, total_steps, epoch, loss / eval_loss, lr, grad_norm, tokens_per_s, elapsed_s, eta_s) and, when the run has
finished, `all_results.json`. Evaluation: `metrics.json` in output_dir. A line still being written is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TRAINER_LOG = "trainer_log.jsonl"
"""= llmtuner.train.callbacks.LOG_NAME (not imported: that module imports transformers); a test checks."""
RESULT_FILES = {"train": "all_results.json", "eval": "metrics.json", "export": "export_info.json"}


def read_points(path: Path, since_step: int = 0) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    points = []
    for raw in path.read_bytes().split(b"\n"):
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue  # blank, or the last line while it is written
        if isinstance(record, dict) and int(record.get("step", 0) or 0) > since_step:
            points.append(record)
    return points


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def job_metrics(kind: str, output_dir: Path, since_step: int = 0) -> dict[str, Any]:
    points = read_points(output_dir / TRAINER_LOG, since_step) if kind == "train" else []
    train = [point for point in points if "loss" in point]
    evaluation = [point for point in points if "eval_loss" in point]
    latest = points[-1] if points else None
    results = read_json(output_dir / RESULT_FILES[kind]) if kind in RESULT_FILES else None
    if kind == "export" and results is not None:  # the release's facts, not its card text
        results = {key: value for key, value in results.items() if isinstance(value, (int, float, str, bool))}
    return {
        "kind": kind,
        "train": train,
        "eval": evaluation,
        "latest": latest,
        "total_steps": latest.get("total_steps") if latest else None,
        "results": results,
    }


def steps_per_second(points: list[dict[str, Any]]) -> float | None:
    """Optimizer steps per second between the first and the last logged step (start-up not counted)."""
    timed = [point for point in points if "elapsed_s" in point and "step" in point]
    if len(timed) < 2 or timed[-1]["elapsed_s"] <= timed[0]["elapsed_s"]:
        return None
    return (timed[-1]["step"] - timed[0]["step"]) / (timed[-1]["elapsed_s"] - timed[0]["elapsed_s"])
