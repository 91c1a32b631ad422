"""The data path of the preference stages: registry -> load -> align pairs -> check -> our template -> token ids.

Prompts and answers are rendered by the project's chat template exactly as SFT renders a conversation
(`Template.encode_turns`): the prompt is everything before the last answer, the answer is the last round's
response, end-of-turn token included. TRL's trainers receive these ids (`prompt_ids`, `chosen_ids`,
`rejected_ids`; KTO: `prompt_ids`, `completion_ids`, `label`) and never apply a chat template of their own.

A bad pair (no value, empty or identical answers, a conversation that does not end with the question, a kto_tag
that is not a boolean) stops the run with one DataError per dataset naming the file, the sample indices and the
field, before any model loads; no sample text is logged or echoed. Pairs longer than cutoff_len are cut as SFT
cuts a sample: the answers keep their budget first (`preprocess.allot`), the prompt keeps its start.
"""

from dataclasses import dataclass, field
from typing import Any

from ..extras.errors import DataError
from ..extras.logging import get_logger
from ..hparams import DataArguments
from .drops import Drops, report
from .loader import _subsample, check_format_guess, load_raw, mix
from .preference_align import FIXES, PROBLEMS, align_preference_batch, check_pair_columns
from .preprocess import KEPT, allot
from .registry import DatasetAttr, get_dataset_attrs
from .template import Template

logger = get_logger(__name__)

PAIRED_COLUMNS = ("prompt_ids", "chosen_ids", "rejected_ids")
UNPAIRED_COLUMNS = ("prompt_ids", "completion_ids", "label")
SHOWN = 5


@dataclass
class PreferenceStats:
    split: str
    samples: int = 0
    """Rows read: pairs, or KTO answers."""
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    truncated: int = 0
    prompt_lengths: list[int] = field(default_factory=list)
    chosen_lengths: list[int] = field(default_factory=list)
    """Tokens of the chosen answers (KTO: of every judged answer)."""
    rejected_lengths: list[int] = field(default_factory=list)
    desirable: int = 0
    undesirable: int = 0
    """KTO rows by label (a pair gives one of each)."""

    @property
    def lengths(self) -> list[int]:
        """Tokens per row as trained: the prompt plus its longer answer."""
        answers = self.chosen_lengths if not self.rejected_lengths else map(max, self.chosen_lengths, self.rejected_lengths)
        return [prompt + answer for prompt, answer in zip(self.prompt_lengths, answers)]

    def percentiles(self) -> dict[str, int]:
        import numpy as np

        if not self.prompt_lengths:
            return {}
        values = np.percentile(self.lengths, [50, 90, 95, 99, 100])
        return {name: int(v) for name, v in zip(("p50", "p90", "p95", "p99", "max"), values)}


@dataclass
class PreferenceData:
    """What prepare_preference returns: the token-id splits and their statistics (a PreparedData for pairs)."""

    stage: str
    train: Any = None
    eval: Any = None
    predict: Any = None
    stats: dict[str, PreferenceStats] = field(default_factory=dict)


def aligned_features() -> Any:
    from datasets import Features, List, Value

    return Features({
        "_prompt": List({"role": Value("string"), "content": Value("string")}), "_system": Value("string"),
        "_chosen": Value("string"), "_rejected": Value("string"), "_label": Value("bool"), "_problem": Value("string"),
        "_origin": Value("string"), "_row": Value("int64"),
    })


def load_preference(attr: DatasetAttr, data_args: DataArguments, stage: str, seed: int, cache_dir: str | None) -> Any:
    """One dataset, aligned and checked: a DataError names every bad sample (by index) before tokenising."""
    check_format_guess(attr, data_args.strict_data)
    dataset = load_raw(attr, data_args, cache_dir)
    check_pair_columns(attr, dataset.column_names, stage)
    dataset = _subsample(dataset, attr, data_args, seed)
    fn_kwargs: dict[str, Any] = {"attr": attr, "deidentify": data_args.deidentify}
    if data_args.deidentify:
        from .deidentify import DEIDENTIFY_VERSION

        fn_kwargs["deidentify_version"] = DEIDENTIFY_VERSION
    dataset = dataset.map(align_preference_batch, batched=True, with_indices=True, remove_columns=dataset.column_names,
                          features=aligned_features(), fn_kwargs=fn_kwargs, num_proc=data_args.preprocessing_num_workers,
                          load_from_cache_file=not data_args.overwrite_cache, desc=f"Aligning {attr.name} (pairs)")
    raise_problems(attr, dataset.data.column("_problem").to_pylist())
    return dataset.remove_columns("_problem")


def raise_problems(attr: DatasetAttr, problems: list[str]) -> None:
    """One DataError for every bad sample of a dataset: counts per field and reason, a few indices, the fixes."""
    found: dict[str, list[int]] = {}
    for index, problem in enumerate(problems):
        if problem:
            found.setdefault(problem, []).append(index)
    if not found:
        return
    parts, fixes = [], []
    for problem, indices in sorted(found.items(), key=lambda item: item[1][0]):
        column, reason = problem.split(": ", 1)
        shown = ", ".join(map(str, indices[:SHOWN])) + (", ..." if len(indices) > SHOWN else "")
        parts.append(f"{len(indices)} with {column!r} {PROBLEMS[reason]} (sample{'s' if len(indices) > 1 else ''} {shown})")
        fixes.append(FIXES[reason])
    total = sum(len(indices) for indices in found.values())
    raise DataError(f"Dataset {attr.name!r} ({attr.path}): {total} of {len(problems)} preference samples cannot be "
                    f"trained on: {'; '.join(parts)}. Sample indices count from 0 in file order. Fix the file "
                    f"({'; '.join(dict.fromkeys(fixes))}) or remove those samples.")


def split_off_eval(splits: dict[str, Any], data_args: DataArguments, seed: int) -> dict[str, Any]:
    if not data_args.val_size or "train" not in splits:
        return splits
    import datasets

    train = splits["train"]
    size = int(data_args.val_size) if data_args.val_size >= 1 else data_args.val_size
    if isinstance(size, int) and size >= len(train):
        raise DataError(f"val_size={size} holds out every one of the {len(train)} training pairs; lower it.")
    parts = train.train_test_split(test_size=size, seed=seed)
    held_out = parts["test"] if "eval" not in splits else datasets.concatenate_datasets([splits["eval"], parts["test"]])
    return {**splits, "train": parts["train"], "eval": held_out}


def encode_answer(tokenizer: Any, template: Template, prompt: list[dict[str, str]], answer: str, system: str | None,
                  enable_thinking: bool) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids) as SFT renders the conversation prompt + answer: every round before the answer
    and the last round's prompt, then its response (with the end-of-turn token)."""
    turns = template.encode_turns(tokenizer, [*prompt, {"role": "assistant", "content": answer}], system=system,
                                  enable_thinking=enable_thinking)
    prompt_ids = [token for question, response in turns[:-1] for token in question + response] + turns[-1][0]
    return prompt_ids, turns[-1][1]


def truncate(prompt: list[int], answers: list[list[int]], cutoff_len: int) -> tuple[list[int], list[list[int]], bool]:
    longest = max(len(answer) for answer in answers)
    if len(prompt) + longest <= cutoff_len:
        return prompt, answers, False
    source, target = allot(len(prompt), longest, cutoff_len)
    return prompt[:source], [answer[:target] for answer in answers], True


def tokenize_batch(batch: dict[str, list[Any]], tokenizer: Any, template: Template, cutoff_len: int, unpaired: bool,
                   enable_thinking: bool = True, default_system: str | None = None) -> dict[str, list[Any]]:
    """datasets.map function (batched). Paired: one row per pair. Unpaired (kto): one row per judged answer, a pair
    giving a desirable and an undesirable one. `_status` and `_truncated` per row, for the statistics."""
    columns = UNPAIRED_COLUMNS if unpaired else PAIRED_COLUMNS
    out: dict[str, list[Any]] = {key: [] for key in (*columns, "_status", "_truncated", "_origin", "_row")}
    rows = zip(batch["_prompt"], batch["_system"], batch["_chosen"], batch["_rejected"], batch["_label"],
               batch["_origin"], batch["_row"])
    for prompt, system, chosen, rejected, label, origin, index in rows:
        system = system if system is not None else default_system
        prompt_ids, chosen_ids = encode_answer(tokenizer, template, prompt, chosen, system, enable_thinking)
        answers, labels = [chosen_ids], [True if label is None else label]
        status = KEPT
        if label is None:  # a pair
            rejected_prompt, rejected_ids = encode_answer(tokenizer, template, prompt, rejected, system, enable_thinking)
            answers.append(rejected_ids)
            labels.append(False)
            if rejected_prompt != prompt_ids:
                raise DataError(f"Dataset {origin!r}, sample {index}: {PROBLEMS['prompt_differs']}. "
                                f"{FIXES['prompt_differs'].capitalize()}.")
        prompt_ids, answers, truncated = truncate(prompt_ids, answers, cutoff_len)
        if not all(answers):
            status = "nothing_to_learn"
        if unpaired:
            for answer, desirable in zip(answers, labels):
                _append(out, status, truncated, origin, index, prompt_ids=prompt_ids, completion_ids=answer, label=desirable)
        else:
            _append(out, status, truncated, origin, index, prompt_ids=prompt_ids, chosen_ids=answers[0],
                    rejected_ids=answers[1])
    return out


def _append(out: dict[str, list[Any]], status: str, truncated: bool, origin: str, index: int, **columns: Any) -> None:
    for key, value in {**columns, "_status": status, "_truncated": truncated, "_origin": origin, "_row": index}.items():
        out[key].append(value)


def prepare_preference(tokenizer: Any, data_args: DataArguments, stage: str, template: Template, seed: int = 42,
                       cache_dir: str | None = None) -> PreferenceData:
    """Token-id splits for a preference stage, plus statistics; `template` is the one the tokenizer was fixed for."""
    if template is None:
        raise ValueError(f"prepare_preference(stage={stage!r}) needs the chat template the tokenizer was fixed for.")
    splits: dict[str, Any] = {}
    for split, names in (("train", data_args.dataset), ("eval", data_args.eval_dataset)):
        attrs = get_dataset_attrs(names, data_args.dataset_dir)
        if attrs:
            splits[split] = mix([load_preference(attr, data_args, stage, seed, cache_dir) for attr in attrs], data_args, seed)
    prepared = PreferenceData(stage=stage)
    unpaired = stage == "kto"
    for split, dataset in split_off_eval(splits, data_args, seed).items():
        dataset = dataset.map(
            tokenize_batch, batched=True, remove_columns=dataset.column_names,
            fn_kwargs={"tokenizer": tokenizer, "template": template, "cutoff_len": data_args.cutoff_len, "unpaired": unpaired,
                       "enable_thinking": data_args.enable_thinking, "default_system": data_args.default_system},
            num_proc=data_args.preprocessing_num_workers, load_from_cache_file=not data_args.overwrite_cache,
            desc=f"Tokenizing {split} ({stage})")
        stats = PreferenceStats(split)
        statuses = dataset.data.column("_status").to_pylist()
        stats.samples, stats.kept = len(statuses), statuses.count(KEPT)
        stats.truncated = sum(dataset.data.column("_truncated").to_pylist())
        _report_drops(dataset, statuses, split, data_args.strict_data, stats)
        dataset = dataset.filter(lambda status: status == KEPT, input_columns="_status")
        dataset = dataset.remove_columns(["_status", "_truncated", "_origin", "_row"])
        if stats.kept == 0:
            raise DataError(f"The {split} data has no usable preference samples (each lost its answers to cutoff_len="
                            f"{data_args.cutoff_len}). Raise cutoff_len or shorten the prompts.")
        if unpaired:  # KTO batches are read in order (their KL term pairs neighbours): mix prompts and labels once
            dataset = dataset.shuffle(seed=seed).flatten_indices()
        _measure(dataset, stats, unpaired)
        log_stats(stats)
        prepared.stats[split] = stats
        setattr(prepared, split, dataset)
    return prepared


def _report_drops(dataset: Any, statuses: list[str], split: str, strict: bool, stats: PreferenceStats) -> None:
    drops = Drops()
    origins, rows = dataset.data.column("_origin").to_pylist(), dataset.data.column("_row").to_pylist()
    for status, origin, row in zip(statuses, origins, rows):
        if status != KEPT:
            drops.add(origin, status, row)
    stats.dropped = drops.by_reason()
    report(drops, f"The {split} preference data", len(statuses), strict)


def _measure(dataset: Any, stats: PreferenceStats, unpaired: bool) -> None:
    import pyarrow.compute as pc

    table = dataset.with_format("arrow")[:]
    stats.prompt_lengths = pc.list_value_length(table["prompt_ids"]).to_pylist()
    if unpaired:
        stats.chosen_lengths = pc.list_value_length(table["completion_ids"]).to_pylist()
        stats.desirable = int(pc.sum(table["label"]).as_py() or 0)
        stats.undesirable = len(stats.prompt_lengths) - stats.desirable
    else:
        stats.chosen_lengths = pc.list_value_length(table["chosen_ids"]).to_pylist()
        stats.rejected_lengths = pc.list_value_length(table["rejected_ids"]).to_pylist()


def log_stats(stats: PreferenceStats) -> None:
    """Counts only, never sample text."""
    dropped = ", ".join(f"{n} {reason}" for reason, n in stats.dropped.items()) or "none"
    labels = f", {stats.desirable} desirable / {stats.undesirable} undesirable" if stats.desirable or stats.undesirable else ""
    logger.info("%s: %d preference samples, %d kept, dropped: %s, truncated: %d, tokens (prompt + longer answer) %s%s",
                stats.split, stats.samples, stats.kept, dropped, stats.truncated, stats.percentiles(), labels)
