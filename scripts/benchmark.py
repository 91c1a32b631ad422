"""Measure the figures the issues set targets for, and print them as a table.

    python scripts/benchmark.py                 # every section
    python scripts/benchmark.py --only data     # one section (data, terms, eval, vocab, train, pref, contamination,
                                                #   deidentify, serve, console)

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


def _sft_template():
    from llmtuner.data.template_registry import get_template

    return get_template("shuzhiqihuang")


def _data_setup(cutoff_len: int, packing: bool = False):
    import datasets
    from transformers import AutoTokenizer

    from llmtuner.hparams import DataArguments
    from llmtuner.model.tiny import ensure_tiny_model

    datasets.disable_progress_bars()
    tokenizer = AutoTokenizer.from_pretrained(str(ensure_tiny_model()))
    _sft_template().fix_tokenizer(tokenizer)  # as the training workflow does before the data pipeline runs
    dataset_dir, name, _ = _sft_source()
    data_args = DataArguments(template="shuzhiqihuang", dataset=[name], dataset_dir=dataset_dir, cutoff_len=cutoff_len, packing=packing)
    return tokenizer, data_args


def probe_cached(cache_dir: str, cutoff_len: int) -> None:
    """Child process of bench_data: time one preprocessing run against a warm cache."""
    from llmtuner.data.pipeline import prepare_datasets

    tokenizer, data_args = _data_setup(cutoff_len)
    start = time.perf_counter()
    prepare_datasets(tokenizer, data_args, "sft", template=_sft_template(), cache_dir=cache_dir)
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
        prepared = prepare_datasets(tokenizer, data_args, "sft", template=_sft_template(), cache_dir=cache_dir)
        cold = time.perf_counter() - start
        # A re-run is a new process: measure it as one, so nothing cached in memory flatters the figure.
        probe = subprocess.run([sys.executable, __file__, "--probe_cached", cache_dir, "--cutoff_len", str(args.cutoff_len)],
                               capture_output=True, text=True, check=True)
        cached = float(probe.stdout.strip().splitlines()[-1])
        packed_rows = {}
        for cutoff in sorted({args.cutoff_len, 1024}):
            packed_args = DataArguments(template="shuzhiqihuang", dataset=[name], dataset_dir=dataset_dir, cutoff_len=cutoff, packing=True)
            packed = prepare_datasets(tokenizer, packed_args, "sft", template=_sft_template(), cache_dir=cache_dir)
            packed_rows[cutoff] = packed.stats["train"].row_lengths
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


def _best_of(runs: int, function: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def _trie_scan(text: str, root: dict) -> list[tuple[str, int]]:
    """Leftmost-longest scan over a dict-of-dicts trie (the no-library candidate)."""
    found, i, n = [], 0, len(text)
    while i < n:
        node, j, end = root.get(text[i]), i, 0
        while node is not None:
            j += 1
            end = j if "" in node else end
            node = node.get(text[j]) if j < n else None
        if end:
            found.append((text[i:end], i))
        i = end or i + 1
    return found


def bench_terms(args: argparse.Namespace) -> list[Row]:
    """Term extraction throughput on 10k answers with the 20k shared lexicon, and the engines compared."""
    import json
    import logging

    from ahocorasick_rs import AhoCorasick, MatchKind

    from llmtuner.eval.safety import check_safety
    from llmtuner.eval.terms import TermLexicon

    shared = Path(os.environ.get("SHUZHIQIHUANG_SHARED", ROOT.parent / "shared")) / "data"
    if not (shared / "medical_terms.txt").is_file() or not (shared / "medical_sft.json").is_file():
        return [("terms", f"skipped: {shared}/medical_terms.txt and medical_sft.json not present", "")]
    outputs = [sample["output"] for sample in json.loads((shared / "medical_sft.json").read_text(encoding="utf-8"))]
    answers = [outputs[i % len(outputs)] for i in range(10_000)]
    chars = sum(map(len, answers))
    logging.getLogger("llmtuner").setLevel(logging.WARNING)
    load, lexicon = _best_of(1, lambda: TermLexicon.load([shared / "medical_terms.txt"]))
    rows: list[Row] = [("terms: corpus", f"{len(answers):,} answers of medical_sft.json ({chars / 1e6:.2f} M chars), "
                        f"{len(lexicon):,} typed terms of the 20k lexicon (loaded in {load:.2f} s)", "")]

    def rate(seconds: float) -> str:
        return f"{len(answers) / seconds:,.0f} answers/s, {chars / seconds / 1e6:.2f} M chars/s ({seconds:.2f} s)"

    seconds, _ = _best_of(3, lambda: [lexicon.extract(answer) for answer in answers])
    rows.append(("terms: TermLexicon.extract (untyped words as boundaries)", rate(seconds), ""))
    loose = TermLexicon(lexicon.terms)
    seconds, _ = _best_of(3, lambda: [loose.extract(answer) for answer in answers])
    rows.append(("terms: TermLexicon.extract (typed terms only)", rate(seconds), ""))
    seconds, _ = _best_of(3, lambda: [check_safety(answer) for answer in answers])
    rows.append(("safety: check_safety", rate(seconds), ""))

    # Engines on the same typed terms, raw text, no boundaries: speed, and agreement with ahocorasick-rs.
    terms = list(lexicon.terms)
    automaton = AhoCorasick(terms, matchkind=MatchKind.LeftmostLongest)
    engines: dict[str, Callable[[str], list[tuple[str, int]]]] = {
        "ahocorasick-rs": lambda text: [(terms[k], s) for k, s, _ in automaton.find_matches_as_indexes(text)]}
    trie: dict = {}
    for term in terms:
        node = trie
        for char in term:
            node = node.setdefault(char, {})
        node[""] = True
    engines["pure-Python trie"] = lambda text: _trie_scan(text, trie)
    try:
        import ahocorasick

        pyac = ahocorasick.Automaton()
        for term in terms:
            pyac.add_word(term, term)
        pyac.make_automaton()
        engines["pyahocorasick iter_long"] = lambda text: [(t, end - len(t) + 1) for end, t in pyac.iter_long(text)]
    except ImportError:
        rows.append(("terms engine: pyahocorasick", "not installed (pip install pyahocorasick to compare)", ""))
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for term in terms:
        tokenizer.add_word(term, freq=10**6)
    typed = set(terms)

    def jieba_scan(text: str) -> list[tuple[str, int]]:
        found, position = [], 0
        for word in tokenizer.cut(text, HMM=False):
            if word in typed:
                found.append((word, position))
            position += len(word)
        return found

    engines["jieba + user dictionary"] = jieba_scan
    reference = None
    for name, scan in engines.items():
        seconds, found = _best_of(1 if name.startswith("jieba") else 3, lambda scan=scan: [scan(answer) for answer in answers])
        reference = reference or found
        differ = sum(1 for mine, theirs in zip(reference, found) if mine != theirs)
        rows.append((f"terms engine: {name}", f"{rate(seconds)}; {differ:,} answers differ from ahocorasick-rs", ""))
    return rows


SECTIONS["terms"] = bench_terms


def bench_eval(args: argparse.Namespace) -> list[Row]:
    """QA evaluation throughput on the tiny model: the same prompts generated at batch 1 and batch 16."""
    from llmtuner.eval.engine import load_for_eval
    from llmtuner.eval.generate import generate_batches
    from llmtuner.eval.items import load_qa_items
    from llmtuner.eval.qa_task import qa_prompt
    from llmtuner.hparams import parse_eval_args

    shared = Path(os.environ.get("SHUZHIQIHUANG_SHARED", ROOT.parent / "shared")) / "data"
    if (shared / "clinical_qa_dev.json").is_file():
        dataset_dir, name = str(shared), "clinical_qa_dev"
    else:
        dataset_dir, name = str(ROOT / "data"), "clinical_qa_sample"
    samples, new_tokens = 48, 64
    eval_args = parse_eval_args(["--model_name_or_path", "embedded", "--template", "shuzhiqihuang", "--eval_dataset", name,
                                 "--dataset_dir", dataset_dir, "--output_dir", "unused", "--max_samples", str(samples),
                                 "--max_new_tokens", str(new_tokens)])
    items = load_qa_items(eval_args.data)
    model, tokenizer, template = load_for_eval(eval_args)
    prompts = [qa_prompt(template, tokenizer, item, eval_args) for item in items]
    stops, kwargs = template.stop_token_ids(tokenizer), eval_args.generating.to_generate_kwargs()
    rates, answers = {}, {}
    for batch_size in (1, 16):
        start = time.perf_counter()
        batches = generate_batches(model, tokenizer, prompts, kwargs, batch_size, stops)
        answers[batch_size] = dict(pair for batch in batches for pair in batch)
        rates[batch_size] = len(prompts) / (time.perf_counter() - start)
    same = sum(answers[1][i] == answers[16][i] for i in range(len(prompts)))
    return [
        (f"QA eval, {name}, {len(prompts)} samples, <= {new_tokens} new tokens, batch 1", f"{rates[1]:.2f} samples/s", ""),
        ("QA eval, batch 16", f"{rates[16]:.2f} samples/s ({rates[16] / rates[1]:.1f}x batch 1)", ">= 4x batch 1"),
        ("QA eval, greedy answers equal at batch 1 and 16", f"{same} of {len(prompts)}", "all"),
    ]


SECTIONS["eval"] = bench_eval


def bench_vocab(args: argparse.Namespace) -> list[Row]:
    """Characters per token before and after scripts/expand_vocab.py, tiny tokenizer, medical corpus + herb/formula terms."""
    import json

    shared = Path(os.environ.get("SHUZHIQIHUANG_SHARED", ROOT.parent / "shared")) / "data"
    if (shared / "medical_pt.jsonl").is_file():
        corpus, label = f"{shared / 'medical_pt.jsonl'},{shared / 'medical_sft.json'}", "../shared/data"
        terms = shared / "medical_terms.txt"
    else:
        corpus, label = f"{ROOT / 'data/medical_pt_sample.jsonl'},{ROOT / 'data/medical_sft_sample.json'}", "data/"
        terms = ROOT / "data/medical_terms.txt"
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "scripts" / "expand_vocab.py"), "--base_tokenizer", "embedded",
                        "--corpus", corpus, "--terms", str(terms), "--term_types", "herb,formula",
                        "--output_dir", str(Path(folder) / "expanded")], check=True, capture_output=True)
        seconds = time.perf_counter() - start
        report = json.loads((Path(folder) / "expanded" / "expand_vocab_report.json").read_text(encoding="utf-8"))
    return [(f"vocab expansion, tiny tokenizer, {label} corpus", f"{report['chars_per_token_before']:.3f} -> "
             f"{report['chars_per_token_after']:.3f} chars/token (+{report['new_tokens_added']:,} tokens, {seconds:.0f} s)",
             "report the change")]


SECTIONS["vocab"] = bench_vocab


def _train_once(workdir: Path, name: str, settings: dict[str, object]) -> dict[str, float]:
    """One `llmtuner train` in a child process; its own peak RSS comes from os.wait4."""
    import json

    output_dir = workdir / name
    argv = [sys.executable, "-m", "llmtuner.cli", "train", "--output_dir", str(output_dir)]
    for key, value in settings.items():
        argv += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", WANDB_MODE="disabled",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    with open(workdir / f"{name}.log", "w") as log:
        child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"training run {name} failed; log: {(workdir / f'{name}.log').read_text()[-3000:]}")
    results = json.loads((output_dir / "train_results.json").read_text())
    losses = [json.loads(line)["loss"] for line in (output_dir / "trainer_log.jsonl").read_text().splitlines()
              if '"loss"' in line]
    return {"tokens_per_s": results["num_input_tokens_seen"] / results["train_runtime"], "loss": losses[-1],
            "rss_gib": usage.ru_maxrss / 2**20, "tokens": results["num_input_tokens_seen"]}


def bench_train(args: argparse.Namespace) -> list[Row]:
    """SFT on the tiny model: LoRA and full, with and without packing, the same steps and batch size."""
    from llmtuner.data.pipeline import padding_fraction, prepare_datasets
    from llmtuner.hparams import DataArguments

    dataset_dir, name, label = _sft_source()
    cutoff, steps, batch = args.train_cutoff_len, args.train_steps, args.batch_size
    tokenizer, _ = _data_setup(cutoff)
    padding = {}
    for packing in (False, True):
        data_args = DataArguments(template="shuzhiqihuang", dataset=[name], dataset_dir=dataset_dir, cutoff_len=cutoff, packing=packing)
        stats = prepare_datasets(tokenizer, data_args, "sft", template=_sft_template()).stats["train"]  # also warms the cache the runs read
        padding[packing] = padding_fraction(stats.row_lengths if packing else stats.lengths, batch)
    common = {"model_name_or_path": "embedded", "stage": "sft", "template": "shuzhiqihuang", "dataset": name,
              "dataset_dir": dataset_dir, "cutoff_len": cutoff, "per_device_train_batch_size": batch, "max_steps": steps,
              "learning_rate": 1e-3, "lora_rank": 16, "logging_steps": min(5, steps), "save_strategy": "no", "seed": 0,
              "gradient_checkpointing": False, "plot_loss": False, "report_to": "none", "dataloader_num_workers": 0}
    rows: list[Row] = [(f"SFT, tiny model, {label}, cutoff {cutoff}, batch {batch}, {steps} steps", "", "")]
    with tempfile.TemporaryDirectory() as folder:
        for finetuning in ("lora", "full"):
            rates = {}
            for packing in (False, True):
                run = f"{finetuning}-{'packed' if packing else 'padded'}"
                result = _train_once(Path(folder), run, {**common, "finetuning_type": finetuning, "packing": packing,
                                                         "learning_rate": 1e-3 if finetuning == "lora" else 2e-4})
                rates[packing] = result["tokens_per_s"]
                rows.append((f"  {finetuning}, {'packing' if packing else 'no packing'}",
                             f"{result['tokens_per_s']:,.0f} non-pad tokens/s, padding {padding[packing]:.1%}, "
                             f"peak RSS {result['rss_gib']:.2f} GiB, loss {result['loss']:.3f} @ step {steps}", ""))
            rows.append((f"  {finetuning}: packing speed-up", f"{rates[True] / rates[False]:.2f}x non-pad tokens/s",
                         "beat padded batches clearly"))
    return rows


SECTIONS["train"] = bench_train


def bench_pref(args: argparse.Namespace) -> list[Row]:
    """DPO on the tiny model with LoRA, the project's medical pairs: pairs/s padded (TRL 1.16 has padding-free DPO
    switched off, so there is no packed run), with the reference forward each step and with precomputed log-probs."""
    import json

    steps, batch = args.train_steps, args.batch_size
    common = {"model_name_or_path": "embedded", "stage": "dpo", "template": "shuzhiqihuang",
              "dataset": "medical_preference_sample", "dataset_dir": str(ROOT / "data"), "cutoff_len": args.train_cutoff_len,
              "per_device_train_batch_size": batch, "max_steps": steps, "learning_rate": 5e-3, "lora_rank": 16,
              "finetuning_type": "lora", "logging_steps": min(5, steps), "save_strategy": "no", "seed": 0,
              "gradient_checkpointing": False, "plot_loss": False, "report_to": "none", "dataloader_num_workers": 0}
    runs = 2  # a shared 2-core machine: the same run varies several-fold with the load, so each is measured twice
    rows: list[Row] = [(f"DPO, tiny model, LoRA, medical_preference_sample, batch {batch} pairs, {steps} steps, best of {runs}",
                        "", "")]
    with tempfile.TemporaryDirectory() as folder:
        for name, extra in (("reference forward", {}), ("precomputed reference", {"pref_precompute_ref": True})):
            measured = []
            for attempt in range(runs):
                run = f"{name.replace(' ', '-')}-{attempt}"
                result = _train_once(Path(folder), run, {**common, **extra})
                out = Path(folder) / run
                pairs_per_s = json.loads((out / "train_results.json").read_text())["train_samples_per_second"]
                margins = [json.loads(line)["rewards/margins"] for line in (out / "trainer_log.jsonl").read_text().splitlines()
                           if "rewards/margins" in line]
                measured.append((pairs_per_s, result, margins))
            pairs_per_s, result, margins = max(measured, key=lambda item: item[0])
            rows.append((f"  LoRA, padded, {name}", f"{pairs_per_s:.2f} pairs/s (runs: {', '.join(f'{m[0]:.2f}' for m in measured)}), "
                         f"{result['tokens_per_s']:,.0f} non-pad tokens/s, peak RSS {result['rss_gib']:.2f} GiB, "
                         f"reward margin {margins[0]:.2f} -> {margins[-1]:.2f}", "DPO pairs/s with LoRA"))
    rows += _bench_grpo(args, runs)
    return rows


def _bench_grpo(args: argparse.Namespace, runs: int) -> list[Row]:
    """GRPO on the tiny model with LoRA, HF generate on this machine: completions/s (sampled, scored and trained on),
    on the medical_grpo_sample exam prompts with the mcq_correct and format rewards."""
    import json

    steps, batch, group, length = args.train_steps, 8, 4, 32
    settings = {"model_name_or_path": "embedded", "stage": "grpo", "template": "shuzhiqihuang", "dataset": "medical_grpo_sample",
                "dataset_dir": str(ROOT / "data"), "cutoff_len": args.train_cutoff_len, "per_device_train_batch_size": batch,
                "max_steps": steps, "learning_rate": 5e-3, "lora_rank": 16, "finetuning_type": "lora", "logging_steps": 1,
                "save_strategy": "no", "seed": 0, "gradient_checkpointing": False, "plot_loss": False, "report_to": "none",
                "dataloader_num_workers": 0, "reward_funcs": "mcq_correct,format", "reward_weights": "1.0,0.5",
                "grpo_num_generations": group, "grpo_max_completion_length": length}
    rows: list[Row] = [(f"GRPO, tiny model, LoRA, HF generate, medical_grpo_sample, {batch} completions/step ({group} per prompt, "
                        f"at most {length} tokens), {steps} steps, best of {runs}", "", "")]
    measured = []
    with tempfile.TemporaryDirectory() as folder:
        for attempt in range(runs):
            run = f"grpo-{attempt}"
            result = _train_once(Path(folder), run, settings)
            out = Path(folder) / run
            runtime = json.loads((out / "train_results.json").read_text())["train_runtime"]
            records = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines() if line.strip()]
            lengths = [record["completions/mean_length"] for record in records if "completions/mean_length" in record]
            measured.append((steps * batch / runtime, result, sum(lengths) / max(1, len(lengths))))
    rate, result, mean_length = max(measured, key=lambda item: item[0])
    rows.append(("  LoRA, HF generate (CPU here)", f"{rate:.2f} completions/s (runs: {', '.join(f'{m[0]:.2f}' for m in measured)}), "
                 f"{rate * mean_length:,.0f} completion tokens/s, mean length {mean_length:.1f} tokens, "
                 f"peak RSS {result['rss_gib']:.2f} GiB", "GRPO completions/s"))
    return rows


SECTIONS["pref"] = bench_pref


def _contamination_corpus(folder: Path, n_train: int, n_eval: int) -> tuple[str, dict[str, list[int]]]:
    """Synthetic training/eval files from real sentences, with planted copies; (corpus label, planted ids).

    Sentences of the medical data are split 85/15 into a training and an evaluation pool (so clean items share
    no sentence with training, and most of their 4-grams are new). Training documents are 1-8 sentences (each
    sentence is reused a few times) with 2% of characters changed, and a known 1% of each kind is planted:
    exact copies (whitespace and width changed), near copies of documents of >= 150 characters (1% changed),
    evaluation answers copied into a training document (3% changed).
    """
    import json
    import random
    import re

    shared = Path(os.environ.get("SHUZHIQIHUANG_SHARED", ROOT.parent / "shared")) / "data"
    base, label = (shared, "../shared/data") if (shared / "medical_pt.jsonl").is_file() else (ROOT / "data", "data/")
    texts = []
    for path in sorted(base.glob("*.json*")):
        if path.name == "dataset_info.json":
            continue
        text = path.read_text(encoding="utf-8")
        records = [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" else json.loads(text)
        for record in records:
            texts += [v for k, v in record.items() if isinstance(v, str) and k not in ("category", "source", "answer")]
            texts += [turn["value"] for turn in record.get("conversations", [])]
    sentences = sorted({s.strip() for text in texts for s in re.split(r"(?<=[。！？!?\n])", text) if len(s.strip()) >= 8})
    rng = random.Random(0)
    rng.shuffle(sentences)
    cut = len(sentences) * 85 // 100
    train_pool, eval_pool = sentences[:cut], sentences[cut:]
    # The source data repeats passages (one exam question in a pre-training text and an SFT sample, stock
    # sentences of online doctors): keep the evaluation sentences mostly (> half of their 4-grams) new.
    import numpy as np

    from llmtuner.data.ngrams import gram_keys, normalise

    seen = np.unique(np.concatenate([gram_keys(normalise(sentence)) for sentence in train_pool]))

    def mostly_new(sentence: str) -> bool:
        keys = gram_keys(normalise(sentence))
        known = seen[np.minimum(np.searchsorted(seen, keys), len(seen) - 1)] == keys
        return bool(len(keys)) and known.mean() <= 0.5

    eval_pool = [sentence for sentence in eval_pool if mostly_new(sentence)]
    alphabet = "".join(train_pool[:3000])

    def perturb(text: str, rate: float, least: int = 0) -> str:
        chars = list(text)
        for position in rng.sample(range(len(chars)), min(max(int(len(chars) * rate), least), len(chars))):
            old = chars[position]
            while chars[position] == old:  # a different character, or the change is none
                chars[position] = rng.choice(alphabet)
        return "".join(chars)

    train = [perturb("".join(rng.choices(train_pool, k=rng.randint(1, 8))), 0.02, 1) for _ in range(n_train)]
    evaluation = [{"instruction": "".join(rng.choices(eval_pool, k=rng.randint(1, 2))), "input": "",
                   "output": "".join(rng.choices(eval_pool, k=rng.randint(2, 5)))} for _ in range(n_eval)]
    planted: dict[str, list[int]] = {"exact": [], "near": [], "contaminated": [], "targets": []}
    for number, doc in enumerate(range(50, n_train, 100)):
        source = rng.choice([d for d in range(doc - 49, doc) if d % 100 != 99 and len(train[d]) >= 150] or [doc - 1])
        if number % 2:
            planted["near"].append(doc)
            train[doc] = perturb(train[source], 0.01, 1)  # Jaccard ~0.9: 1% changed breaks ~4% of the 4-grams
        else:
            planted["exact"].append(doc)
            train[doc] = " ".join(train[source]).replace("，", ",")  # spaces and half-width commas: normalised away
    for item in range(25, n_eval, 100):
        doc = rng.randrange(n_train // 100) * 100 + 99  # neither a planted copy nor a source of one
        while len(evaluation[item]["output"]) < 40:  # long enough to judge (min_chars) with a few changes
            evaluation[item]["output"] += rng.choice(eval_pool)
        planted["contaminated"].append(item)
        planted["targets"].append(doc)
        train[doc] = "".join(rng.choices(train_pool, k=2)) + perturb(evaluation[item]["output"], 0.03) + train[doc]
    (folder / "train.jsonl").write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in train),
                                        encoding="utf-8")
    (folder / "eval.json").write_text(json.dumps(evaluation, ensure_ascii=False), encoding="utf-8")
    chars = sum(map(len, train))
    return f"{n_train:,} training docs ({chars / 1e6:.1f} M chars), {n_eval:,} eval items, sentences of {label}", planted


def bench_contamination(args: argparse.Namespace) -> list[Row]:
    """`llmtuner check-data` end to end (a child process) on 100k synthetic training documents and 5k eval items."""
    import json

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        label, planted = _contamination_corpus(folder, args.contamination_docs, args.contamination_items)
        argv = [sys.executable, "-m", "llmtuner.cli", "check-data", "--dataset", str(folder / "train.jsonl"),
                "--eval_dataset", str(folder / "eval.json"), "--output", str(folder / "report.json")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
                   HF_DATASETS_CACHE=str(folder / "cache"))  # a fresh cache: the read is timed cold, as a first run
        start = time.perf_counter()
        with open(folder / "log.txt", "w") as log:
            child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"check-data failed: {(folder / 'log.txt').read_text()[-3000:]}")
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    timings, summary = report["timings"], report["summary"]
    closest: dict[int, set[int]] = {}  # flagged eval item -> the training documents its flagged texts are in
    for entry in report["contamination"]:
        if entry["flagged"]:
            closest.setdefault(entry["eval"]["index"], set()).add(entry["train"]["index"])
    found = sum(doc in closest.get(item, ()) for item, doc in zip(planted["contaminated"], planted["targets"]))
    others = [item for item in closest if item not in planted["contaminated"]]
    via_planted = sum(bool(closest[item] & set(planted["targets"])) for item in others)  # eval sentences recur
    copies = {ref["index"] for group in report["exact_duplicates"] for ref in group[1:]}
    near = {ref["index"] for group in report["near_duplicates"] for ref in group["samples"]}
    return [
        ("check-data: corpus", label, ""),
        ("check-data: read files (datasets, cold cache)", f"{timings['read_s']:.1f} s", ""),
        ("check-data: index (normalise, 4-grams, inverted index)", f"{timings['index_s']:.1f} s", ""),
        ("check-data: exact + near duplicates (MinHash LSH)", f"{timings['duplicates_s']:.1f} s", ""),
        (f"check-data: query {report['evaluation']['texts']:,} eval texts", f"{timings['contamination_s']:.1f} s", ""),
        ("check-data: whole command", f"{wall:.0f} s wall, peak RSS {usage.ru_maxrss / 2**20:.2f} GiB", "minutes on a laptop CPU"),
        ("check-data: planted contamination flagged, with the right document", f"{found} of {len(planted['contaminated'])}; "
         f"{len(others)} other items flagged, {via_planted} of them for sentences they share with a planted answer", "all planted"),
        ("check-data: planted duplicates found", f"exact {len(copies & set(planted['exact']))} of {len(planted['exact'])}, "
         f"near {len(near & set(planted['near']))} of {len(planted['near'])} "
         f"({summary['exact_duplicate_groups']:,} exact / {summary['near_duplicate_groups']:,} near groups in all)", "all planted"),
    ]


SECTIONS["contamination"] = bench_contamination


def bench_deidentify(args: argparse.Namespace) -> list[Row]:
    """De-identification: recall per kind and near-miss false positives on tests/data/deid_corpus.jsonl, and the
    time for 1 MB lines (adversarial characters, one letter run, clinical text)."""
    import random

    from llmtuner.data.deidentify import REPLACEMENTS, deidentify_text
    from llmtuner.data.deidentify.evaluation import load_corpus, score_corpus

    start = time.perf_counter()
    deidentify_text("患者田野。")  # the first call loads jieba's dictionary
    first_call = time.perf_counter() - start
    corpus = load_corpus(ROOT / "tests" / "data" / "deid_corpus.jsonl")
    scrub = lambda text: deidentify_text(text)[0]  # noqa: E731
    score = score_corpus(corpus, scrub)
    near = score.near_misses
    rows: list[Row] = [("deidentify: corpus", f"{len(corpus)} sentences: {sum(score.planted.values())} planted identifiers, "
                                              f"{near} near-miss sentences", ">= 300 sentences")]
    rows += [(f"deidentify: recall {kind}", f"{score.removed[kind]}/{score.planted[kind]} = {score.recall(kind):.1%}", ">= 99%")
             for kind in REPLACEMENTS]
    rows.append(("deidentify: near-miss sentences changed", f"{score.changed}/{near} = {score.false_positive_rate:.1%}", "<= 2%"))
    for part in ("development", "held-out"):
        subset = score_corpus([record for record in corpus if record["set"] == part], scrub)
        planted, removed = sum(subset.planted.values()), sum(subset.removed.values())
        rows.append((f"deidentify: {part} sentences (all kinds)", f"recall {removed}/{planted}, near-misses changed "
                                                                  f"{subset.changed}/{subset.near_misses}", ""))
    rng = random.Random(0)
    clinical = "".join(record["text"] for record in corpus)
    lines = {
        "1 MB line of @ . digits letters": lambda n: "".join(rng.choice("@@..aZ09-_+ ") for _ in range(n)),
        "1 MB line of one letter (old e-mail pattern: 8 s for 80 kB)": lambda n: "a" * n,
        "1 MB line of clinical text (the corpus, repeated)": lambda n: (clinical * (n // len(clinical) + 1))[:n],
    }
    for label, make in lines.items():
        timings = []
        for size in (50_000, 1_000_000):
            text = make(size)
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                deidentify_text(text)
                best = min(best, time.perf_counter() - start)
            timings.append(best)
        rows.append((f"deidentify: {label}", f"{timings[1]:.2f} s ({timings[1] / timings[0]:.0f}x the 50 kB time)",
                     "< 1 s, ~20x (linear)"))
    rows.append(("deidentify: first call (loads jieba's dictionary)", f"{first_call:.1f} s", ""))
    shared = Path(os.environ.get("SHUZHIQIHUANG_SHARED", ROOT.parent / "shared")) / "data" / "medical_sft.json"
    if shared.is_file():  # real medical QA (no patient records): what changes is names, masked names and mistakes
        import json

        texts = [value for row in json.loads(shared.read_text(encoding="utf-8")) for value in row.values() if isinstance(value, str)]
        start = time.perf_counter()
        changed = sum(deidentify_text(text)[0] != text for text in texts)
        elapsed = time.perf_counter() - start
        line = "".join(texts)[:1_000_000]
        start = time.perf_counter()
        deidentify_text(line)
        rows.append(("deidentify: ../shared/data/medical_sft.json strings changed (names of doctors, 张某 in exam questions, "
                     "mistakes)", f"{changed} of {len(texts):,} ({elapsed:.1f} s)", "inspect"))
        rows.append(("deidentify: 1M characters of that text as one line", f"{time.perf_counter() - start:.2f} s", "< 1 s"))
    return rows


SECTIONS["deidentify"] = bench_deidentify


def _serve_load(url: str, key: str, prompts: list[str], requests: int, concurrency: int, max_tokens: int) -> dict[str, float]:
    """`requests` chat completions (greedy, `max_tokens`) from `concurrency` clients at once; rates and latencies."""
    import asyncio
    import statistics

    import httpx  # installed with the openai client (requirements-dev.txt)

    async def run() -> tuple[float, list[float], int]:
        gate, latencies, generated = asyncio.Semaphore(concurrency), [], 0
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits,
                                     timeout=600) as client:
            async def one(index: int) -> None:
                nonlocal generated
                body = {"messages": [{"role": "user", "content": prompts[index % len(prompts)]}], "max_tokens": max_tokens,
                        "temperature": 0}
                async with gate:
                    start = time.perf_counter()
                    response = await client.post("/v1/chat/completions", json=body)
                    latencies.append(time.perf_counter() - start)
                response.raise_for_status()
                generated += response.json()["usage"]["completion_tokens"]

            start = time.perf_counter()
            await asyncio.gather(*[one(index) for index in range(requests)])
            return time.perf_counter() - start, latencies, generated

    wall, latencies, generated = asyncio.run(run())
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"rps": requests / wall, "tps": generated / wall, "p50": statistics.median(latencies), "p99": cuts[98]}


def bench_serve(args: argparse.Namespace) -> list[Row]:
    """`llmtuner api` in-process (a real uvicorn server on a loopback port) with the embedded model: throughput
    and latency at 1, 8 and 32 concurrent clients, and what batching gains over one request at a time."""
    import logging

    import torch

    from llmtuner.hparams.serve_parser import parse_serve_args
    from llmtuner.serve.api import BackgroundServer, create_app
    from llmtuner.serve.engine import load_serving_engine

    logging.getLogger("llmtuner").setLevel(logging.WARNING)  # no INFO line per request
    if args.serve_threads:
        torch.set_num_threads(args.serve_threads)
    key, requests, max_tokens = "benchmark-key", args.serve_requests, args.serve_max_tokens
    prompts = [f"第{i}位患者头痛{i % 5 + 1}天，伴恶寒发热、咳嗽，舌淡苔白，脉浮紧。请辨证并给出治法。" for i in range(16)]

    def measure(max_concurrency: int, levels: tuple[int, ...]) -> dict[int, dict[str, float]]:
        config = parse_serve_args("api", ["--model_name_or_path", "embedded", "--template", "shuzhiqihuang", "--api_key", key,
                                          "--max_concurrency", str(max_concurrency), "--max_queue", str(4 * requests),
                                          "--max_new_tokens", str(max_tokens)])
        engine = load_serving_engine(config)
        sizes: list[int] = []  # rows of each generate() batch: how much the scheduler could batch
        run_batch = engine.scheduler.run_batch
        engine.scheduler.run_batch = lambda jobs: (sizes.append(len(jobs)), run_batch(jobs))
        figures = {}
        try:
            with BackgroundServer(create_app(config, engine)) as server:
                _serve_load(server.url, key, prompts, 4, 1, max_tokens)  # warm-up
                for level in levels:
                    sizes.clear()
                    figures[level] = _serve_load(server.url, key, prompts, requests, level, max_tokens)
                    figures[level]["batch"] = sum(sizes) / len(sizes)
        finally:
            engine.close()
        return figures

    batched = measure(args.serve_max_concurrency, (1, 8, 32))
    alone = measure(1, (8,))[8]
    rows: list[Row] = [(f"serve: embedded model, {requests} requests per level, max_tokens {max_tokens}, greedy, server "
                        f"max_concurrency {args.serve_max_concurrency}, torch threads {torch.get_num_threads()}", "", "")]
    for level, figures in batched.items():
        rows.append((f"  concurrency {level}", f"{figures['rps']:.1f} requests/s, {figures['tps']:,.0f} generated tokens/s, "
                                             f"latency p50 {figures['p50']:.2f} s, p99 {figures['p99']:.2f} s, mean batch "
                                             f"{figures['batch']:.1f} rows", ""))
    rows.append(("  concurrency 8, max_concurrency 1 (one at a time)",
                 f"{alone['rps']:.1f} requests/s, {alone['tps']:,.0f} generated tokens/s, latency p50 {alone['p50']:.2f} s, "
                 f"p99 {alone['p99']:.2f} s", ""))
    rows.append(("  batching speed-up at concurrency 8", f"{batched[8]['rps'] / alone['rps']:.1f}x requests/s", ">= 3x on CPU"))
    return rows


SECTIONS["serve"] = bench_serve

# the console's section lives beside this script (scripts/bench_console.py): a server, a job, fifty readers
from bench_console import bench_console  # noqa: E402

SECTIONS["console"] = bench_console


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
    parser.add_argument("--train_cutoff_len", type=int, default=1024, help="cutoff_len of the train section")
    parser.add_argument("--train_steps", type=int, default=20, help="optimizer steps per run in the train section")
    parser.add_argument("--contamination_docs", type=int, default=100_000, help="training documents of the contamination section")
    parser.add_argument("--contamination_items", type=int, default=5_000, help="evaluation items of the contamination section")
    parser.add_argument("--serve_requests", type=int, default=96, help="requests per concurrency level of the serve section")
    parser.add_argument("--serve_max_tokens", type=int, default=32, help="max_tokens of every request of the serve section")
    parser.add_argument("--serve_max_concurrency", type=int, default=32, help="the server's max_concurrency in the serve section")
    parser.add_argument("--serve_threads", type=int, default=1,
                        help="torch threads of the serve section (0 = torch's default; 1 is steadier on a shared CPU)")
    parser.add_argument("--console_steps", type=int, default=40, help="train steps of each job in the console section")
    parser.add_argument("--console_rounds", type=int, default=3, help="unwatched/watched pairs of jobs in the console section")
    parser.add_argument("--probe_cached", metavar="CACHE_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from llmtuner.extras.hub_kernels import import_bitsandbytes_offline

    import_bitsandbytes_offline()  # as the llmtuner commands do: nothing fetched from the Hub behind the user's back
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
