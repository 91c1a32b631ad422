"""`llmtuner eval` / `python src/evaluate.py`: the task table, and what every task writes.

One module per task, each a `run_<task>(EvalConfig) -> metrics` function:
qa (`qa_task.py`):   generate answers (resumable) -> ROUGE/BLEU, terminology accuracy, TCM safety flags.
mcq (`mcq_task.py`): option-letter likelihood (or generation + answer parsing) -> accuracy per category.
ppl (`ppl_task.py`): token-weighted perplexity on held-out text.
Every task writes predictions.jsonl, metrics.json, report.md and a per-category chart to output_dir.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..extras.errors import DiskFullError
from ..extras.files import free_space, write_failure, write_json
from ..extras.logging import get_logger
from ..extras.run_lock import run_lock
from ..hparams import EvalConfig
from .mcq_task import run_mcq
from .ppl_task import run_ppl
from .qa_task import run_qa

logger = get_logger(__name__)

TASKS: dict[str, Callable[[EvalConfig], dict[str, Any]]] = {"qa": run_qa, "mcq": run_mcq, "ppl": run_ppl}


def run_evaluation(args: EvalConfig) -> dict[str, Any]:
    """Run the task, write metrics.json, report.md and the chart; returns the metrics. The output_dir is locked
    for the whole run, before the model loads: a second evaluation into it is refused."""
    with run_lock(args.eval.output_dir, "evaluation"):
        try:
            return _evaluate(args)
        except Exception as error:
            reason = write_failure(error)
            if reason is None:
                raise
            kept = ("the next run scores the texts again" if args.eval.task == "ppl" else "the answers already in "
                    "predictions.jsonl are kept (a line cut off is skipped) and the next run resumes after them")
            raise DiskFullError(f"Writing the evaluation into {args.eval.output_dir} failed ({reason}); {kept}. "
                                f"{free_space(args.eval.output_dir)}: free space there, then run the same command "
                                "again.") from error


def _evaluate(args: EvalConfig) -> dict[str, Any]:
    from .report import compare_reports, write_report

    if args.eval.compare:
        first, second = args.eval.compare
        return compare_reports(first, second, args.eval.output_dir)
    from transformers import set_seed

    set_seed(args.eval.seed)
    metrics = TASKS[args.eval.task](args)
    metrics["run"] = {"model": args.model.model_name_or_path, "adapter": args.model.adapter_name_or_path,
                      "template": args.data.template, "eval_dataset": args.data.eval_dataset,
                      "predictions_file": args.eval.predictions_file}
    output_dir = Path(args.eval.output_dir)
    write_json(output_dir / "metrics.json", metrics)
    write_report(output_dir, metrics, args.eval.worst_samples)
    logger.info("Evaluation written to %s: %s", output_dir, json.dumps(metrics["overall"], ensure_ascii=False))
    return metrics
