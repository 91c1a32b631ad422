"""report.md, the per-category chart, and the side-by-side comparison of two evaluations."""

import json
from pathlib import Path
from typing import Any

from ..extras.errors import DataError
from ..extras.files import write_text

CHART_NAME = "category_scores.png"
MAIN_METRICS = {"qa": ("rouge-l", "bleu-4", "term_recall"), "mcq": ("accuracy",), "ppl": ("perplexity",)}


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        if value is None:
            return "–"  # undefined, e.g. precision when the answers name no term of that type
        return f"{value:.2f}" if isinstance(value, float) else str(value).replace("|", "\\|").replace("\n", " ")

    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_report(metrics: dict[str, Any], worst: int = 10) -> str:
    task = metrics["task"]
    run = metrics.get("run", {})
    lines = [f"# Evaluation report ({task})", ""]
    lines += [f"- {key}: `{value}`" for key, value in run.items() if value]
    lines += [f"- samples: {metrics['samples']}", "", "## Overall", ""]
    lines += _table(["metric", "value"], [[name, value] for name, value in metrics["overall"].items()])
    categories = metrics.get("by_category", {})
    if categories:
        names = list(next(iter(categories.values())))
        lines += ["", "## By category", ""]
        lines += _table(["category", *names], [[category, *values.values()] for category, values in categories.items()])
    terms = metrics.get("terms")
    if terms:
        lines += ["", "## Terminology", "", f"Lexicon: {terms.get('lexicon_terms', '?')} typed terms. "
                  "Recall (\"accuracy\") = share of the reference's terms that the answer contains.", ""]
        by_type = terms.get("by_type", {})
        if by_type:
            header = list(next(iter(by_type.values())))
            lines += _table(["type", *header], [[name, *values.values()] for name, values in by_type.items()])
        by_category = terms.get("by_category", {})
        if by_category:  # TCM / Western: micro-averaged over each category's reference terms
            lines += [""] + _table(["category", "samples", "samples with terms", "recall", "precision", "f1"], [
                [name, values["samples"], values["samples_with_terms"], *values["micro"].values()]
                for name, values in by_category.items()])
        introduced = terms.get("introduced_top", [])
        if introduced:
            lines += ["", "Terms answers introduce that neither question nor reference mention: "
                      + ", ".join(f"{term} ({count})" for term, count in introduced)]
    safety = metrics.get("safety")
    if safety is not None:
        lines += ["", "## TCM safety (十八反 / 十九畏 / 妊娠禁忌)", ""]
        lines += _table(["check", "flagged answers"], [[kind, count] for kind, count in safety.get("counts", {}).items()])
        flagged = metrics.get("safety_flags", [])
        if flagged:
            lines += ["", *_table(["id", "check", "herbs", "rule"],
                                  [[f["id"], f["kind"], "、".join(f["herbs"]), f.get("rule", "")] for f in flagged])]
    samples = metrics.get("worst", [])[:worst]
    if samples:
        lines += ["", f"## {len(samples)} lowest-scoring samples", ""]
        header = list(samples[0])
        lines += _table(header, [[_short(sample[key]) if isinstance(sample[key], str) else sample[key] for key in header]
                                 for sample in samples])
    return "\n".join(lines) + "\n"


def plot_categories(metrics: dict[str, Any], path: Path) -> bool:
    """Grouped bars of the task's main metrics per category; False when there is nothing to draw."""
    categories = metrics.get("by_category", {})
    names = [name for name in MAIN_METRICS[metrics["task"]] if categories and name in next(iter(categories.values()))]
    if not names:
        return False
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    labels = list(categories)
    width = 0.8 / len(names)
    figure, axis = plt.subplots(figsize=(max(4.0, 1.2 * len(labels) * len(names)), 3.5))
    for offset, name in enumerate(names):
        positions = [index + offset * width for index in range(len(labels))]
        values = [categories[label].get(name) or 0.0 for label in labels]
        bars = axis.bar(positions, values, width, label=name)
        axis.bar_label(bars, fmt="%.1f", fontsize=7)
    axis.set_xticks([index + width * (len(names) - 1) / 2 for index in range(len(labels))], labels)
    axis.set_title(f"{metrics['task']} by category")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def write_report(output_dir: Path, metrics: dict[str, Any], worst: int = 10) -> None:
    plot_categories(metrics, output_dir / CHART_NAME)
    write_text(output_dir / "report.md", render_report(metrics, worst))


def _read_metrics(folder: str) -> dict[str, Any]:
    path = Path(folder) / "metrics.json"
    if not path.is_file():
        raise DataError(f"{path} not found: --compare takes two output folders of finished evaluations.")
    return json.loads(path.read_text(encoding="utf-8"))


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    flat = {f"overall/{name}": value for name, value in metrics["overall"].items() if isinstance(value, (int, float))}
    for category, values in metrics.get("by_category", {}).items():
        flat.update({f"{category}/{name}": value for name, value in values.items() if isinstance(value, (int, float))})
    return flat


def compare_reports(first: str, second: str, output_dir: str | None = None) -> dict[str, Any]:
    """Print and write (compare.md, compare.json) metric | A | B | B - A for the metrics both runs have."""
    a, b = _read_metrics(first), _read_metrics(second)
    if a["task"] != b["task"]:
        raise DataError(f"Cannot compare a {a['task']} evaluation ({first}) with a {b['task']} one ({second}).")
    numbers_a, numbers_b = _numbers(a), _numbers(b)
    rows = [[name, numbers_a[name], numbers_b[name], round(numbers_b[name] - numbers_a[name], 4)]
            for name in numbers_a if name in numbers_b]
    result = {"task": a["task"], "a": first, "b": second, "rows": rows}
    text = "\n".join([f"# {a['task']}: A = {first}, B = {second}", "", *_table(["metric", "A", "B", "B - A"], rows)]) + "\n"
    print(text)
    if output_dir:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / "compare.md").write_text(text, encoding="utf-8")
        (Path(output_dir) / "compare.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return result
