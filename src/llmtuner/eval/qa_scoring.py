"""Score QA records: text overlap, terminology accuracy and TCM safety, per sample and aggregated."""

from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..hparams import EvalConfig
from .metrics import TEXT_METRICS, score_pair


def lexicon_paths(args: EvalConfig) -> list[str]:
    """`term_lexicon`, else medical_terms.txt in dataset_dir, else the project's own list."""
    from .terms import DEFAULT_LEXICON

    if args.eval.term_lexicon:
        return list(args.eval.term_lexicon)
    beside_data = Path(args.data.dataset_dir) / "medical_terms.txt"
    return [str(beside_data if beside_data.is_file() else DEFAULT_LEXICON)]


def _mean(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return round(sum(present) / len(present), 2) if present else None


def score_qa(records: list[dict[str, Any]], args: EvalConfig, lexicon: Any = None) -> dict[str, Any]:
    """Adds `scores`, `introduced_terms` and `safety` to each record; returns metrics.json's content."""
    from .safety import check_safety, summarize
    from .terms import TermLexicon, aggregate, score_terms

    lexicon = lexicon if lexicon is not None else TermLexicon.load(lexicon_paths(args))
    term_scores, flags = [], []
    for record in records:
        scores = score_pair(record["prediction"], record["reference"])
        terms = score_terms(record["prediction"], record["reference"], record.get("question", ""), lexicon=lexicon)
        scores.update({"term_recall": terms.recall, "term_precision": terms.precision, "term_f1": terms.f1})
        record["scores"] = scores
        record["introduced_terms"] = terms.introduced
        sample_flags = check_safety(record["prediction"], record.get("question", ""))
        record["safety"] = [asdict(flag) for flag in sample_flags]
        term_scores.append(terms)
        flags.append(sample_flags)

    names = [*TEXT_METRICS, "term_recall", "term_precision", "term_f1"]

    def averaged(selected: list[dict[str, Any]]) -> dict[str, Any]:
        return {"samples": len(selected), **{name: _mean([r["scores"][name] for r in selected]) for name in names}}

    categories = sorted({record["category"] for record in records})
    term_summary = aggregate(term_scores, [record["category"] for record in records])
    term_summary["lexicon_terms"] = len(lexicon)
    worst = sorted(records, key=lambda r: (r["scores"]["rouge-l"] + r["scores"]["bleu-4"], r["id"]))
    return {
        "task": "qa",
        "samples": len(records),
        "overall": {key: value for key, value in averaged(records).items() if key != "samples"},
        "by_category": {category: averaged([r for r in records if r["category"] == category]) for category in categories},
        "terms": term_summary,
        "safety": summarize(flags),
        "safety_flags": [{"id": record["id"], **flag} for record in records for flag in record["safety"]],
        "worst": [{"id": r["id"], "category": r["category"], "rouge-l": r["scores"]["rouge-l"], "bleu-4": r["scores"]["bleu-4"],
                   "question": r.get("question", ""), "prediction": r["prediction"]} for r in worst[: args.eval.worst_samples]],
    }
