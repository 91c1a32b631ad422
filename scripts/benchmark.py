"""Measure the figures the issues set targets for, and print them as a table.

    python scripts/benchmark.py                 # every section
    python scripts/benchmark.py --only data     # one section

Sections are a registry: a later feature adds a function to SECTIONS. Each returns rows of
(figure, value, target) so one table shows what was measured against what was asked.
Uses ../shared/data when present (real medical data), else the project's data/ samples.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

Row = tuple[str, str, str]


def _sft_source() -> tuple[str, str, str]:
    shared = Path(os.environ.get("SHUZHIQIHUANG_SHARED", ROOT.parent / "shared")) / "data"
    if (shared / "medical_sft.json").is_file():
        return str(shared), "medical_sft", "../shared/data/medical_sft.json"
    return str(ROOT / "data"), "medical_sft_sample", "data/medical_sft_sample.json"


def _data_setup(cutoff_len: int, packing: bool = False):
    import datasets
    from transformers import AutoTokenizer

    from llmtuner.hparams import DataArguments
    from llmtuner.model.tiny import ensure_tiny_model

    datasets.disable_progress_bars()
    tokenizer = AutoTokenizer.from_pretrained(str(ensure_tiny_model()))
    dataset_dir, name, _ = _sft_source()
    return tokenizer, DataArguments(template="shuzhiqihuang", dataset=name, dataset_dir=dataset_dir, cutoff_len=cutoff_len, packing=packing)


def probe_cached(cache_dir: str, cutoff_len: int) -> None:
    """Child process of bench_data: time one preprocessing run against a warm cache."""
    from llmtuner.data.pipeline import prepare_datasets

    tokenizer, data_args = _data_setup(cutoff_len)
    start = time.perf_counter()
    prepare_datasets(tokenizer, data_args, "sft", cache_dir=cache_dir)
    print(time.perf_counter() - start)


def bench_data(args: argparse.Namespace) -> list[Row]:
    """Preprocessing throughput cold vs cached, token lengths, padding waste with and without packing."""
    from llmtuner.data.pipeline import padding_fraction, prepare_datasets
    from llmtuner.hparams import DataArguments

    tokenizer, data_args = _data_setup(args.cutoff_len)
    dataset_dir, name, label = _sft_source()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        prepared = prepare_datasets(tokenizer, data_args, "sft", cache_dir=cache_dir)
        cold = time.perf_counter() - start
        # A re-run is a new process: measure it as one, so nothing cached in memory flatters the figure.
        probe = subprocess.run([sys.executable, __file__, "--probe_cached", cache_dir, "--cutoff_len", str(args.cutoff_len)],
                               capture_output=True, text=True, check=True)
        cached = float(probe.stdout.strip().splitlines()[-1])
        packed_rows = {}
        for cutoff in sorted({args.cutoff_len, 1024}):
            packed_args = DataArguments(template="shuzhiqihuang", dataset=name, dataset_dir=dataset_dir, cutoff_len=cutoff, packing=True)
            packed_rows[cutoff] = prepare_datasets(tokenizer, packed_args, "sft", cache_dir=cache_dir).stats["train"].row_lengths
    stats = prepared.stats["train"]
    rows.append(("dataset", f"{label} ({stats.samples} samples, tiny tokenizer)", ""))
    rows.append(("preprocess cold", f"{stats.samples / cold:,.0f} samples/s ({cold:.2f} s)", ""))
    rows.append(("preprocess from cache (new process)", f"{stats.samples / cached:,.0f} samples/s ({cached:.2f} s)", ""))
    rows.append(("cache speed-up", f"{cold / cached:.1f}x", ">= 20x"))
    rows.append(("token length", ", ".join(f"{k} {v}" for k, v in stats.percentiles().items()), ""))
    rows.append(("truncated / dropped", f"{stats.truncated} / {stats.samples - stats.kept}", ""))
    unpacked = padding_fraction(stats.lengths, args.batch_size)
    rows.append((f"padding, batch {args.batch_size}, no packing", f"{unpacked:.1%}", ""))
    for cutoff, lengths in packed_rows.items():
        target = "<= 2%" if cutoff == args.cutoff_len else "(shorter rows leave more gaps)"
        rows.append((f"padding, batch {args.batch_size}, packing, cutoff {cutoff}",
                     f"{padding_fraction(lengths, args.batch_size):.2%} ({stats.kept} samples -> {len(lengths)} rows)", target))
    return rows


SECTIONS: dict[str, Callable[[argparse.Namespace], list[Row]]] = {"data": bench_data}


def print_table(rows: list[Row]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    print(line)
    for row in rows:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(SECTIONS), help="run one section")
    parser.add_argument("--cutoff_len", type=int, default=2048, help="default = DataArguments.cutoff_len")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--probe_cached", metavar="CACHE_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_cached:
        probe_cached(args.probe_cached, args.cutoff_len)
        return
    rows: list[Row] = [("figure", "measured", "target")]
    for name, section in SECTIONS.items():
        if args.only in (None, name):
            rows += section(args)
    print_table(rows)


if __name__ == "__main__":
    main()
