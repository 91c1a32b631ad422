"""The whole data path in one call: registry -> load -> align -> template -> preprocess (-> pack).

Returns token-id datasets ready for a collator, and statistics a user can check before a GPU hour
is spent: samples kept and dropped (by reason), truncation, token-length percentiles, identifiers
scrubbed, padding waste. Statistics never include sample text. Dropped samples are reported at WARNING
per dataset and reason with a few sample indices (`data.drops`); `strict_data` makes any drop an error.
"""

from dataclasses import dataclass, field
from typing import Any

from ..extras.errors import DataError
from ..extras.logging import get_logger
from ..hparams import DataArguments
from ..hparams.finetuning_args import ONLINE_STAGES, PREFERENCE_STAGES
from . import drops
from .loader import PROVENANCE, check_format_guess, load_datasets
from .preprocess import DROP_REASONS, KEPT, generation_batch, pack_batch, pt_batch, sft_batch
from .template import Template
from .template_registry import get_template

logger = get_logger(__name__)

PACKING_BATCH = 20_000
"""Samples packed together per map batch: bigger fills rows better, smaller bounds memory."""


@dataclass
class SplitStats:
    split: str
    samples: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    truncated: int = 0
    lengths: list[int] = field(default_factory=list)
    """Tokens per kept sample (PT: per block)."""
    row_lengths: list[int] = field(default_factory=list)
    """Tokens per training row after packing (empty when not packed)."""
    pii: dict[str, int] = field(default_factory=dict)

    def percentiles(self) -> dict[str, int]:
        import numpy as np

        if not self.lengths:
            return {}
        values = np.percentile(self.lengths, [50, 90, 95, 99, 100])
        return {name: int(v) for name, v in zip(("p50", "p90", "p95", "p99", "max"), values)}


@dataclass
class PreparedData:
    train: Any = None
    eval: Any = None
    predict: Any = None
    """The eval split as generation prompts + references (only when asked for, for predict_with_generate)."""
    stats: dict[str, SplitStats] = field(default_factory=dict)


def padding_fraction(lengths: list[int], batch_size: int, seed: int = 0) -> float:
    """Share of pad tokens when rows are batched in a shuffled order and padded to the batch's longest."""
    import numpy as np

    if not lengths:
        return 0.0
    order = np.random.default_rng(seed).permutation(len(lengths))
    values = np.asarray(lengths)[order]
    padded = sum(int(values[i : i + batch_size].max()) * len(values[i : i + batch_size]) for i in range(0, len(values), batch_size))
    return 1.0 - float(values.sum()) / padded


def _lengths(dataset: Any) -> list[int]:
    import pyarrow.compute as pc

    # through the arrow format, not `dataset.data`: after a filter that table still holds the dropped rows
    return pc.list_value_length(dataset.with_format("arrow")["input_ids"]).to_pylist()


def _pii_counts(dataset: Any) -> dict[str, int]:
    import pyarrow.compute as pc

    column = dataset.data.column("_pii").combine_chunks()
    return {name: int(pc.sum(column.field(name)).as_py() or 0) for name in (f.name for f in column.type)}


def _map_kwargs(data_args: DataArguments, description: str) -> dict[str, Any]:
    if data_args.streaming:
        return {}
    return {"num_proc": data_args.preprocessing_num_workers, "load_from_cache_file": not data_args.overwrite_cache, "desc": description}


def check_data_arguments(data_args: DataArguments, stage: str) -> None:
    """Resolve dataset and template names now, so a typo fails before any tokenizer or model is loaded
    (and, with strict_data, a dataset whose format would be guessed)."""
    from .prompts import PROMPT_FORMATS
    from .registry import get_dataset_attrs

    formats = PROMPT_FORMATS if stage in ONLINE_STAGES else None  # grpo also reads exam items as prompts
    for names in (data_args.dataset, data_args.eval_dataset):
        for attr in get_dataset_attrs(names, data_args.dataset_dir, formats=formats):
            check_format_guess(attr, data_args.strict_data, warn=False)  # the warning comes when the data loads
            if stage in ("pt", "sft") and attr.ranking:
                raise DataError(f"Dataset {attr.name!r} holds preference pairs (ranking: true in dataset_info.json), which "
                                f"stage {stage} cannot learn from: use stage dpo, kto, orpo, simpo or rm, or an "
                                f"{stage.upper()} dataset.")
    if stage != "pt":  # sft and the preference stages render chat templates
        get_template(data_args.template or "")


def prepare_datasets(
    tokenizer: Any, data_args: DataArguments, stage: str, template: Template | None = None, seed: int = 42,
    cache_dir: str | None = None, for_generation: bool = False, prompt_instruction: str = "",
) -> PreparedData:
    """Token-id datasets for `stage` ("pt" or "sft"), plus statistics per split.

    SFT renders conversations with `template`, which the caller resolved and fixed the tokenizer for
    (`Template.fix_tokenizer`); this function only reads the tokenizer. `for_generation` (SFT) also renders
    the eval split as prompts with their reference answers. GRPO (online) gets prompts only (`data.prompts`), a
    multiple-choice prompt ending with `prompt_instruction`.
    """
    if stage in ONLINE_STAGES:
        from .prompts import prepare_prompts

        return prepare_prompts(tokenizer, data_args, template, prompt_instruction, seed=seed, cache_dir=cache_dir)  # type: ignore[return-value]
    if stage in PREFERENCE_STAGES:  # pairs (or KTO's labelled answers): their own path, data.preference
        from .preference import prepare_preference

        return prepare_preference(tokenizer, data_args, stage, template, seed=seed, cache_dir=cache_dir)  # type: ignore[return-value]
    if stage == "sft" and template is None:
        raise ValueError("prepare_datasets(stage='sft') needs the chat template the tokenizer was fixed for.")
    if stage == "pt" and tokenizer.eos_token is None:
        raise DataError("PT appends EOS after every document, but this tokenizer has no eos_token. Set one (e.g. via template).")
    prepared = PreparedData()
    for split, dataset in load_datasets(data_args, seed, cache_dir, stage=stage).items():
        stats = SplitStats(split)
        aligned_columns = list(dataset.column_names or ["_messages", "_system", *PROVENANCE] + (["_pii"] if data_args.deidentify else []))
        if data_args.deidentify and not data_args.streaming:
            stats.pii = _pii_counts(dataset)
        if stage == "pt":
            fn_kwargs: dict[str, Any] = {"tokenizer": tokenizer, "cutoff_len": data_args.cutoff_len}
            if not data_args.streaming:
                stats.samples = stats.kept = len(dataset)
            dataset = dataset.map(pt_batch, batched=True, remove_columns=aligned_columns, fn_kwargs=fn_kwargs,
                                  **_map_kwargs(data_args, f"Tokenizing {split} (pt)"))
            if not data_args.streaming:
                stats.lengths = _lengths(dataset)
        else:
            if for_generation and split == "eval":
                prepared.predict = dataset.map(
                    generation_batch, batched=True, remove_columns=aligned_columns,
                    fn_kwargs={"tokenizer": tokenizer, "template": template, "cutoff_len": data_args.cutoff_len,
                               "enable_thinking": data_args.enable_thinking, "default_system": data_args.default_system},
                    **_map_kwargs(data_args, "Rendering prompts (predict)"))
            fn_kwargs = {
                "tokenizer": tokenizer, "template": template, "cutoff_len": data_args.cutoff_len,
                "train_on_prompt": data_args.train_on_prompt, "mask_history": data_args.mask_history,
                "enable_thinking": data_args.enable_thinking, "default_system": data_args.default_system,
            }
            # provenance passes through (one row out per row in) so that drops name their dataset and index
            dataset = dataset.map(sft_batch, batched=True, fn_kwargs=fn_kwargs,
                                  remove_columns=[column for column in aligned_columns if column not in PROVENANCE],
                                  **_map_kwargs(data_args, f"Tokenizing {split} (sft)"))
            if data_args.streaming:
                guard = drops.StreamingGuard(f"The {split} data", data_args.strict_data)
                dataset = dataset.filter(guard, input_columns=["_status", *PROVENANCE])
            else:
                statuses = dataset.data.column("_status").to_pylist()
                stats.samples = len(statuses)
                stats.kept = statuses.count(KEPT)
                stats.dropped = {reason: statuses.count(reason) for reason in DROP_REASONS if reason in statuses}
                stats.truncated = sum(dataset.data.column("_truncated").to_pylist())
                drops.report(drops.collect(statuses, dataset.data), f"The {split} data", stats.samples, data_args.strict_data)
                dataset = dataset.filter(lambda status: status == KEPT, input_columns="_status", **_map_kwargs(data_args, "Dropping"))
            dataset = dataset.remove_columns(["_status", "_truncated", *PROVENANCE])
            if not data_args.streaming:
                stats.lengths = _lengths(dataset)
            if data_args.packing and split == "train":
                dataset = dataset.map(pack_batch, batched=True, batch_size=PACKING_BATCH, fn_kwargs={"cutoff_len": data_args.cutoff_len},
                                      **_map_kwargs(data_args, "Packing"))
                if not data_args.streaming:
                    stats.row_lengths = _lengths(dataset)
        if not data_args.streaming and stats.kept == 0:
            reasons = ", ".join(f"{n} {DROP_REASONS[r]}" for r, n in stats.dropped.items()) or "no samples"
            raise DataError(f"The {split} data has no usable samples ({reasons}). Check the dataset and cutoff_len={data_args.cutoff_len}.")
        log_stats(stats)
        prepared.stats[split] = stats
        setattr(prepared, split, dataset)
    return prepared


def log_stats(stats: SplitStats) -> None:
    """Counts only, never sample text: medical data must not end up in logs."""
    if not stats.samples:
        return
    dropped = ", ".join(f"{n} {reason}" for reason, n in stats.dropped.items()) or "none"
    logger.info("%s: %d samples, %d kept, dropped: %s, truncated: %d, tokens %s", stats.split, stats.samples,
                stats.kept, dropped, stats.truncated, stats.percentiles())
    if stats.pii:
        logger.info("%s: identifiers scrubbed: %s", stats.split, stats.pii)
