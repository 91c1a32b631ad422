"""SFT throughput of this project and of LLaMA-Factory, interleaved, on the same model, data and settings.

    bash scripts/bench_llamafactory.sh [--configs lora,full] [--runs 3]     # builds LLaMA-Factory's venv first

Runs `python -m llmtuner.cli train` (this project's .venv) and LLaMA-Factory's `run_exp` (its own venv, through
`--lf_child` below) as child processes, alternating the two (ours, LF, then LF, ours, ...), `--runs` times per
configuration. Throughput is non-padding tokens seen / `train_runtime` (both frameworks take it from the same
transformers `speed_metrics`, covering the training loop only, not loading or preprocessing). Peak memory is each
child's max RSS (os.wait4). Prints medians, min-max and ratios (ours / LF); writes every run to
saves/bench_llamafactory/runs.json (atomically, after each run). docs/benchmark_llamafactory.md describes the method.

Top-level imports are the standard library only: the same file runs inside LLaMA-Factory's venv (`--lf_child`).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHUZHIQIHUANG_SHARED", ROOT.parent / "shared"))
DEFAULT_OUT = ROOT / "saves" / "bench_llamafactory" / "runs.json"
FRAMEWORKS = ("ours", "lf")

# Settings both frameworks get (docs/benchmark_llamafactory.md「Common settings」). Keys are spelled as in both
# command lines; lora_* only for finetuning_type lora.
COMMON: dict[str, object] = {
    "stage": "sft", "template": "qwen", "cutoff_len": 1024, "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 1, "max_steps": 10, "learning_rate": 1e-3, "seed": 0, "logging_steps": 5,
    "dataloader_num_workers": 0, "report_to": "none", "save_strategy": "no", "plot_loss": False,
    "overwrite_output_dir": True, "bf16": False, "fp16": False,
}
LORA: dict[str, object] = {"lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.0, "lora_target": "all"}

# name -> (finetuning_type, our packing, LLaMA-Factory's packing option). Our `packing` never lets samples attend to
# each other, which is LF's `neat_packing`; LF's plain `packing` (cross-sample attention) is offered as an extra.
CONFIGS: dict[str, tuple[str, bool, str | None]] = {
    "lora": ("lora", False, None),
    "lora-packing": ("lora", True, "neat_packing"),
    "full": ("full", False, None),
    "full-packing": ("full", True, "neat_packing"),
    "lora-packing-cross": ("lora", True, "packing"),
}
DEFAULT_CONFIGS = ("lora", "lora-packing", "full", "full-packing")


# ---------------------------------------------------------------------------------------------------- settings
def settings_for(config: str, max_steps: int | None = None) -> dict[str, object]:
    """The settings one configuration trains with (shared by both frameworks)."""
    finetuning_type, _, _ = CONFIGS[config]
    settings = {**COMMON, "finetuning_type": finetuning_type, **(LORA if finetuning_type == "lora" else {})}
    if max_steps is not None:
        settings["max_steps"] = max_steps
    settings["logging_steps"] = min(int(settings["logging_steps"]), int(settings["max_steps"]))  # a loss to report
    return settings


def _flag(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def ours_argv(config: str, model_dir: str, dataset_dir: str, dataset: str, output_dir: str, max_steps: int | None = None) -> list[str]:
    """`llmtuner train` arguments for one configuration (after `python -m llmtuner.cli train`)."""
    _, packing, _ = CONFIGS[config]
    settings = {"model_name_or_path": model_dir, "dataset": dataset, "dataset_dir": dataset_dir, "output_dir": output_dir,
                **settings_for(config, max_steps), "packing": packing, "gradient_checkpointing": False}
    argv: list[str] = []
    for key, value in settings.items():
        argv += [f"--{key}", _flag(value)]
    return argv


def lf_config(config: str, model_dir: str, dataset_dir: str, dataset: str, output_dir: str,
              max_steps: int | None = None) -> dict[str, object]:
    """LLaMA-Factory's training config (the YAML `llamafactory-cli train` would read) for one configuration."""
    _, packing, lf_packing = CONFIGS[config]
    settings = settings_for(config, max_steps)
    out: dict[str, object] = {
        "model_name_or_path": model_dir,
        "trust_remote_code": True,  # the model folder names a tokenizer subclass (auto_map)
        "do_train": True, "dataset": dataset, "dataset_dir": dataset_dir, "output_dir": output_dir,
        "preprocessing_num_workers": 1,
        "disable_gradient_checkpointing": True,  # LF turns gradient checkpointing on by default
        "include_num_input_tokens_seen": "non_padding",
        **settings,
        "packing": lf_packing == "packing",
    }
    if lf_packing == "neat_packing":
        out["neat_packing"] = True  # implies packing in LF
        del out["packing"]
    assert packing == (lf_packing is not None)
    return out


def write_dataset_info(folder: Path, dataset_dir: Path, dataset: str) -> Path:
    """A dataset_info.json for LLaMA-Factory naming only `dataset`, pointing at the file in dataset_dir by absolute path."""
    entry = dict(json.loads((dataset_dir / "dataset_info.json").read_text(encoding="utf-8"))[dataset])
    entry["file_name"] = str((dataset_dir / entry["file_name"]).resolve())
    entry.pop("file_sha1", None)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dataset_info.json"
    path.write_text(json.dumps({dataset: entry}, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def round_order(round_index: int) -> tuple[str, str]:
    """ABAB with the order reversed on alternate rounds: ours first in even rounds, LF first in odd ones."""
    return FRAMEWORKS if round_index % 2 == 0 else FRAMEWORKS[::-1]


# ---------------------------------------------------------------------------------------------------- numbers
def count_non_padding(input_ids, pad_token_id: int) -> int:
    """Tokens that are not padding in a batch of input ids (a tensor, or a list of rows)."""
    if hasattr(input_ids, "ne"):
        return int(input_ids.ne(pad_token_id).sum())
    return sum(1 for row in input_ids for token in row if token != pad_token_id)


def recount_batches(loader, pad_token_id: int, wanted: int) -> dict[str, int]:
    """Walk the first `wanted` batches of a training dataloader again, epoch by epoch as the trainer does
    (set_epoch before each pass), counting non-padding tokens, all tokens, and what LF/transformers' own
    non_padding formula (`attention_mask.sum()`, cast to int64) gives for the same batches."""
    import torch

    counts = {"non_padding_tokens": 0, "all_tokens": 0, "lf_formula_tokens": 0, "batches": 0, "pad_token_id": pad_token_id}
    epoch = 0
    while counts["batches"] < wanted:
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        seen = counts["batches"]
        for batch in loader:
            if counts["batches"] >= wanted:
                break
            ids = batch["input_ids"]
            counts["non_padding_tokens"] += count_non_padding(ids, pad_token_id)
            counts["all_tokens"] += ids.numel()
            formula = batch["attention_mask"].sum() if "attention_mask" in batch else ids.ne(pad_token_id).sum()
            counts["lf_formula_tokens"] += int(torch.as_tensor(formula, dtype=torch.int64))
            counts["batches"] += 1
        if counts["batches"] == seen:
            raise ValueError("the dataloader yielded no batches")
        epoch += 1
    return counts


def summarize(values: list[float]) -> dict[str, float]:
    """Median, min, max and the half-range as a fraction of the median (spread)."""
    median = statistics.median(values)
    low, high = min(values), max(values)
    return {"median": median, "min": low, "max": high, "n": len(values),
            "spread": (high - low) / 2 / median if median else float("nan")}


def compare(runs: list[dict], config: str, key: str = "tokens_per_s") -> dict[str, object]:
    """Per framework a summary of `key` over a configuration's runs; ratio = median(ours) / median(LF), and the
    ratios of the runs paired by round (each pair ran back to back, so they share the machine's load)."""
    by = {fw: {r["round"]: r[key] for r in runs if r["config"] == config and r["framework"] == fw and r.get(key) is not None}
          for fw in FRAMEWORKS}
    out: dict[str, object] = {fw: summarize(list(by[fw].values())) for fw in FRAMEWORKS if by[fw]}
    if "ours" in out and "lf" in out:
        out["ratio"] = out["ours"]["median"] / out["lf"]["median"]
        paired = [by["ours"][i] / by["lf"][i] for i in sorted(by["ours"].keys() & by["lf"].keys())]
        out["paired_ratios"] = summarize(paired)
    return out


def format_table(runs: list[dict], configs: list[str]) -> str:
    def span(summary: dict[str, float], fmt: str = ",.0f") -> str:
        return f"{summary['median']:{fmt}} ({summary['min']:{fmt}}–{summary['max']:{fmt}})"

    lines = ["| config | LF tokens/s median (min–max) | ours tokens/s median (min–max) | ratio ours/LF (paired min–max) "
             "| tokens LF / ours | peak RSS GiB LF / ours | last loss LF / ours |", "|" + " --- |" * 7]
    for config in configs:
        rate, rss = compare(runs, config), compare(runs, config, "peak_rss_gib")
        if "ratio" not in rate:
            lines.append(f"| {config} | (missing runs) |" + " |" * 5)
            continue
        tokens = {fw: sorted({r["tokens"] for r in runs if r["config"] == config and r["framework"] == fw}) for fw in FRAMEWORKS}
        loss = {fw: statistics.median([r["loss"] for r in runs if r["config"] == config and r["framework"] == fw
                                       and r.get("loss") is not None] or [float("nan")]) for fw in FRAMEWORKS}
        pr = rate["paired_ratios"]
        lines.append(f"| {config} | {span(rate['lf'])} | {span(rate['ours'])} | {rate['ratio']:.2f}x ({pr['min']:.2f}–{pr['max']:.2f}) "
                     f"| {'/'.join(f'{t:,}' for t in tokens['lf'])} / {'/'.join(f'{t:,}' for t in tokens['ours'])} "
                     f"| {rss['lf']['median']:.2f} / {rss['ours']['median']:.2f} | {loss['lf']:.3f} / {loss['ours']:.3f} |")
    return "\n".join(lines)


def write_json_atomic(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=path.name, suffix=".tmp", delete=False, encoding="utf-8") as f:
        json.dump(payload, f, ensure_ascii=False, indent=1)
        temp = f.name
    os.replace(temp, path)


# ---------------------------------------------------------------------------------------------------- children
def run_child(argv: list[str], log_path: Path, env: dict[str, str], timeout: float) -> tuple[int, float, float]:
    """Run one training process; (exit code, its peak RSS in GiB from os.wait4, wall seconds)."""
    start = time.perf_counter()
    with open(log_path, "w") as log:
        child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                child.kill()
                _, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.2)
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
    return child.returncode, usage.ru_maxrss / 2**20, time.perf_counter() - start


def _last_loss(history: list[dict]) -> float | None:
    losses = [entry["loss"] for entry in history if "loss" in entry]
    return losses[-1] if losses else None


def read_ours(output_dir: Path) -> dict[str, object]:
    results = json.loads((output_dir / "train_results.json").read_text())
    log_path = output_dir / "trainer_log.jsonl"
    log = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()] if log_path.is_file() else []
    return {"train_runtime": results["train_runtime"], "tokens": results["num_input_tokens_seen"], "loss": _last_loss(log)}


def read_lf(output_dir: Path, counts: dict[str, int]) -> dict[str, object]:
    results = json.loads((output_dir / "train_results.json").read_text())
    state = json.loads((output_dir / "trainer_state.json").read_text())
    reported = state.get("num_input_tokens_seen")
    # The re-walk saw the batches training saw iff LF's own formula over them gives LF's own total. Not checkable
    # with neat_packing, where that formula sums a 4D float mask and saturates (a negative total).
    checkable = reported is not None and reported >= 0
    return {"train_runtime": results["train_runtime"], "tokens": counts["non_padding_tokens"], "lf_reported_tokens": reported,
            "recount_matches_lf_batches": counts["lf_formula_tokens"] == reported if checkable else None,
            "lf_all_tokens": counts["all_tokens"], "loss": _last_loss(state.get("log_history", []))}


def lf_child(config_path: str, counts_path: str) -> None:
    """Inside LLaMA-Factory's venv: train with run_exp, then count the tokens the training batches held.

    LF's own `num_input_tokens_seen` (non_padding) is `attention_mask.sum()` per batch. Without packing that is
    right. With `packing` the mask is 1 on each pack's padding, so padding is counted; with `neat_packing` the
    collator turns the mask into a 4D float mask and the sum is meaningless (negative). So after training, in
    `on_train_end` (called after transformers has measured train_runtime, so untimed), the callback walks the
    trainer's own train dataloader again over as many batches as training consumed, with the same epoch seed
    (set_epoch), so it yields the same batches, and counts `input_ids != pad_token_id` (the tiny model's pad
    token <|endoftext|> never occurs inside a sample). As a check it also applies LF's formula to those batches:
    it must reproduce LF's reported total exactly (`recount_matches_lf_batches`), which it only does for the same
    batches.
    """
    import yaml
    from llamafactory.train.tuner import run_exp
    from transformers import TrainerCallback

    class Recount(TrainerCallback):
        def on_train_end(self, args, state, control, train_dataloader=None, processing_class=None, **kwargs):
            tokenizer = getattr(processing_class, "tokenizer", processing_class)
            wanted = state.global_step * args.gradient_accumulation_steps
            Path(counts_path).write_text(json.dumps(recount_batches(train_dataloader, tokenizer.pad_token_id, wanted)))

    run_exp(yaml.safe_load(Path(config_path).read_text()), callbacks=[Recount()])


# ---------------------------------------------------------------------------------------------------- driver
def _versions(python: str, packages: list[str]) -> dict[str, str]:
    code = ("import json, importlib.metadata as m\nout = {}\nfor p in %r:\n    try: out[p] = m.version(p)\n"
            "    except m.PackageNotFoundError: pass\nprint(json.dumps(out))") % packages
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def run_one(framework: str, config: str, round_index: int, args: argparse.Namespace, work: Path, lf_data: Path) -> dict:
    name = f"{config}-{framework}-{round_index}"
    output_dir = work / name
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", WANDB_MODE="disabled", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    if framework == "ours":
        argv = [sys.executable, "-m", "llmtuner.cli", "train",
                *ours_argv(config, args.model_dir, args.dataset_dir, args.dataset, str(output_dir), args.max_steps)]
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p)
    else:
        config_path, counts_path = work / f"{name}.yaml", work / f"{name}.counts.json"
        settings = lf_config(config, args.model_dir, str(lf_data), args.dataset, str(output_dir), args.max_steps)
        config_path.write_text(json.dumps(settings, indent=1))  # JSON is YAML
        argv = [args.lf_python, str(Path(__file__).resolve()), "--lf_child", str(config_path), "--counts_out", str(counts_path)]
    log_path = work / f"{name}.log"
    code, rss, wall = run_child(argv, log_path, env, args.timeout)
    run: dict[str, object] = {"config": config, "framework": framework, "round": round_index, "exit_code": code,
                              "peak_rss_gib": round(rss, 3), "wall_s": round(wall, 1), "load_avg_1m": os.getloadavg()[0]}
    try:
        if code != 0:
            raise RuntimeError(f"exit code {code}")
        run.update(read_ours(output_dir) if framework == "ours" else read_lf(output_dir, json.loads(counts_path.read_text())))
        run["tokens_per_s"] = run["tokens"] / run["train_runtime"]
    except Exception as error:  # a failed run is recorded (with its log's tail) and left out of the medians
        run["error"] = f"{error}; log {log_path}: " + log_path.read_text(errors="replace")[-2000:]
    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help=f"comma-separated, from {', '.join(CONFIGS)}")
    parser.add_argument("--runs", type=int, default=3, help="runs of each framework per configuration")
    parser.add_argument("--max_steps", type=int, default=COMMON["max_steps"], help="optimizer steps per run")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP_NUM_THREADS for both frameworks; 0 leaves torch's default (one per core). 1 by default: on "
                             "a 2-core machine shared with other jobs, 2 OpenMP threads per run were 3.5x slower and erratic")
    parser.add_argument("--frameworks", default="ours,lf", help="both (default), or one of them for debugging")
    parser.add_argument("--lf_python", default=os.environ.get("LF_PYTHON", str(ROOT / ".venv-llamafactory" / "bin" / "python")),
                        help="LLaMA-Factory's venv python (default $LF_PYTHON, set by the .sh, or .venv-llamafactory)")
    parser.add_argument("--model_dir", default=str(ROOT / "models" / "tiny-shuzhiqihuang"))
    parser.add_argument("--dataset_dir", default=str(SHARED / "data"))
    parser.add_argument("--dataset", default="medical_sft")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="raw runs as JSON")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one training run may take")
    parser.add_argument("--keep", action="store_true", help="keep the output folders and logs (printed at the end)")
    parser.add_argument("--lf_child", help=argparse.SUPPRESS)
    parser.add_argument("--counts_out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.lf_child:
        return lf_child(args.lf_child, args.counts_out)

    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown or args.runs < 1:
        parser.error(f"unknown configs {unknown} (choose from {', '.join(CONFIGS)})" if unknown else "--runs must be >= 1")
    frameworks = [fw.strip() for fw in args.frameworks.split(",")]
    if not set(frameworks) <= set(FRAMEWORKS):
        parser.error(f"--frameworks takes {', '.join(FRAMEWORKS)}")
    stack = ["torch", "transformers", "peft", "accelerate", "datasets"]
    meta = {"command": " ".join(["bash scripts/bench_llamafactory.sh", *(argv if argv is not None else sys.argv[1:])]),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(), "machine": platform.platform(),
            "load_avg_start": os.getloadavg(), "configs": configs, "runs_per_framework": args.runs,
            "threads": args.threads or "torch default",
            "settings": {c: {"ours": ours_argv(c, args.model_dir, args.dataset_dir, args.dataset, "OUT", args.max_steps),
                             "lf": lf_config(c, args.model_dir, "DATA_DIR", args.dataset, "OUT", args.max_steps)} for c in configs},
            "versions": {"ours": _versions(sys.executable, ["shuzhiqihuang-finetune", *stack]),
                         "lf": _versions(args.lf_python, ["llamafactory", *stack])}}
    out = Path(args.out)
    runs: list[dict] = []
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench_lf_"))
    lf_data = work / "lf_data"
    write_dataset_info(lf_data, Path(args.dataset_dir), args.dataset)
    total = len(configs) * args.runs * len(set(frameworks))
    for config in configs:
        for round_index in range(args.runs):
            for framework in [fw for fw in round_order(round_index) if fw in frameworks]:
                run = run_one(framework, config, round_index, args, work, lf_data)
                runs.append(run)
                rate = f"{run['tokens_per_s']:,.0f} tokens/s" if "tokens_per_s" in run else f"FAILED: {run['error'][:300]}"
                print(f"[{len(runs)}/{total}] {config} {framework} round {round_index}: {rate}, "
                      f"peak RSS {run['peak_rss_gib']:.2f} GiB, {run['wall_s']:.0f} s wall", flush=True)
                meta["elapsed_s"] = round(time.perf_counter() - start, 1)
                write_json_atomic(out, {"meta": meta, "runs": runs,
                                        "summary": {c: compare(runs, c) for c in configs}})
    ok = [r for r in runs if "error" not in r]
    print(f"\n{format_table(ok, configs)}\n")
    print(f"{len(ok)}/{len(runs)} runs succeeded in {meta['elapsed_s'] / 60:.1f} min; raw runs: {out}")
    mismatched = [f"{r['config']} round {r['round']}" for r in ok if r.get("recount_matches_lf_batches") is False]
    if mismatched:
        print(f"WARNING: the token re-count did not walk the training batches for LF runs {mismatched}")
    if args.keep:
        print(f"logs and outputs: {work}")
    else:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    if len(ok) < len(runs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
