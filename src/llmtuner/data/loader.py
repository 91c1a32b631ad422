"""Load dataset files through `datasets` (cached), align them, mix them, and split off evaluation.

`datasets` caches both the file conversion and every `map` by fingerprint, so a second run with
the same files and arguments reads Arrow files from the cache instead of re-parsing.
"""

import json
from pathlib import Path
from typing import Any

from ..extras.errors import DataError
from ..extras.logging import get_logger
from ..hparams import DataArguments
from .align import OTHER_FORMAT_COLUMNS, align_batch, check_columns
from .drops import STRICT_OFF, Drops, StreamingGuard, report
from .encoding import check_encoding, utf8_copy
from .preprocess import KEPT
from .registry import FILE_TYPES, DatasetAttr, get_dataset_attrs

logger = get_logger(__name__)


def aligned_features() -> Any:
    from datasets import Features, List, Value

    return Features({
        "_messages": List({"role": Value("string"), "content": Value("string")}),
        "_system": Value("string"),
        "_origin": Value("string"),  # dataset name and index of each sample: reports name samples, never show them
        "_row": Value("int64"),
        "_drop": Value("string"),
    })


PROVENANCE = ("_origin", "_row")
"""Aligned columns that say where a sample came from (dataset, index); the tokenised data drops them."""


def _data_files(attr: DatasetAttr) -> tuple[str, list[str]]:
    path = Path(attr.path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in FILE_TYPES)
        if not files:
            raise DataError(f"Dataset {attr.name!r}: folder {path} holds no {'/'.join(FILE_TYPES)} files.")
    else:
        raise DataError(f"Dataset {attr.name!r}: {path} does not exist. Check `file_name` in dataset_info.json or `dataset_dir`.")
    kinds = {FILE_TYPES.get(f.suffix) for f in files}
    if None in kinds:
        raise DataError(f"Dataset {attr.name!r}: {files[0]} has an unsupported extension; use {', '.join(FILE_TYPES)}.")
    if len(kinds) > 1:
        raise DataError(f"Dataset {attr.name!r}: folder {path} mixes file types {sorted(kinds)}; keep one type per dataset.")
    for file in files:
        if file.stat().st_size == 0:
            raise DataError(f"Dataset {attr.name!r}: {file} is empty. Remove it or fill it.")
        if FILE_TYPES[file.suffix] in ("json", "csv", "text"):  # parquet and arrow carry their own encoding
            check_encoding(file, attr.name, attr.encoding)
    return kinds.pop(), [str(f) for f in files]


_JSON_TYPES = {str: "a string", int: "a number", float: "a number", bool: "true/false", list: "a list", dict: "an object"}


def _check_field_types(record: dict, where: str, first_seen: dict[str, tuple[str, str]], file: str) -> None:
    """Arrow needs one type per column: name the first record whose field differs from its earlier type."""
    for key, value in record.items():
        if value is None:
            continue
        kind = _JSON_TYPES.get(type(value), type(value).__name__)
        seen = first_seen.setdefault(key, (kind, where))
        if seen[0] != kind:
            raise DataError(f"{file} {where}: field {key!r} is {kind}, but {seen[0]} in {seen[1]}. Every sample must "
                            f"give a field the same type: write it as {seen[0]} here (e.g. quote a number as text).")


def diagnose_csv(files: list[str]) -> None:
    """After `datasets` failed on CSV input, find the first row whose field count differs from the header."""
    import csv

    for file in files:
        with open(file, encoding="utf-8", errors="replace", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            for row in reader:
                if row and len(row) != len(header):
                    raise DataError(f"{file} line {reader.line_num}: {len(row)} fields, but the header has {len(header)} "
                                    f"({', '.join(header)}). Quote fields that contain commas or line breaks (\"...\").")


def diagnose_json(files: list[str]) -> None:
    """After `datasets` failed on JSON input, find the first bad file and line and say so."""
    for file in files:
        first_seen: dict[str, tuple[str, str]] = {}
        text = Path(file).read_text(encoding="utf-8", errors="replace")
        stripped = text.lstrip()
        if stripped.startswith("["):
            try:
                records = json.loads(text)
            except json.JSONDecodeError as error:
                raise DataError(f"{file} line {error.lineno}, column {error.colno}: not valid JSON ({error.msg}). Fix that line.") from None
            for index, record in enumerate(records):
                if not isinstance(record, dict):
                    raise DataError(f"{file}: record {index} is {type(record).__name__}, not an object. Each sample must be a JSON object.")
                _check_field_types(record, f"record {index}", first_seen, file)
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(
                    f"{file} line {number}: not valid JSON ({error.msg} at column {error.colno}). "
                    "In a .jsonl file every line must be one complete JSON object; fix or remove that line."
                ) from None
            if not isinstance(record, dict):
                raise DataError(f"{file} line {number}: a {type(record).__name__}, not a JSON object.")
            _check_field_types(record, f"line {number}", first_seen, file)


def _file_columns(file: str, builder: str) -> list[str]:
    """A file's columns, as `datasets` would infer them (JSON: every record's keys; CSV: the header)."""
    text = Path(file).read_text(encoding="utf-8", errors="replace")
    if builder == "csv":
        import csv

        return next(csv.reader(text.splitlines()), [])
    is_array = text.lstrip().startswith("[")
    records = json.loads(text) if is_array else [json.loads(line) for line in text.splitlines() if line.strip()]
    return list(dict.fromkeys(key for record in records if isinstance(record, dict) for key in record))


def _format_of(columns: list[str]) -> str:
    for formatting, markers in (("sharegpt", OTHER_FORMAT_COLUMNS["alpaca"]), ("alpaca", ("instruction",)), ("text", ("text",))):
        if any(marker in columns for marker in markers):
            return formatting
    return "unknown format"


def diagnose_mixed_files(attr: DatasetAttr, builder: str, files: list[str]) -> None:
    """After `datasets` failed on a folder: files whose columns differ cannot be one table. Name them."""
    if builder not in ("json", "csv") or len(files) < 2:
        return
    by_columns: dict[tuple[str, ...], list[str]] = {}
    for file in files:
        by_columns.setdefault(tuple(sorted(_file_columns(file, builder))), []).append(Path(file).name)
    if len(by_columns) < 2:
        return
    groups = "; ".join(f"{', '.join(names[:3])}{' and %d more' % (len(names) - 3) if len(names) > 3 else ''}: "
                       f"{_format_of(list(columns))}, columns {list(columns)}" for columns, names in by_columns.items())
    raise DataError(f"Dataset {attr.name!r}: the files in folder {attr.path} have different columns ({groups}). One "
                    "dataset is one table: give the files the same columns, or put each format in its own folder with "
                    "its own dataset_info.json entry and list both in `dataset`.")


def load_raw(attr: DatasetAttr, data_args: DataArguments, cache_dir: str | None = None) -> Any:
    """One dataset as `datasets` loads it, before alignment."""
    import datasets

    # datasets sends a request to an S3 bucket to count uses of its json/csv/text builders, even for local files
    # (datasets.load.increase_load_count); a hospital's data never needs that request, so it is switched off.
    datasets.config.HF_UPDATE_DOWNLOAD_COUNTS = False
    if attr.source == "hub":
        try:
            return datasets.load_dataset(attr.path, name=attr.subset, split=attr.split, cache_dir=cache_dir, streaming=data_args.streaming)
        except Exception as error:  # offline, missing repo, auth: all the user can fix is where the data comes from
            raise DataError(
                f"Dataset {attr.name!r}: could not load {attr.path!r} from the hub ({type(error).__name__}: {error}). "
                "On a machine without internet, download it once and register it with `file_name` instead."
            ) from error
    builder, files = _data_files(attr)
    try:
        if attr.encoding and attr.encoding.lower().replace("-", "") not in ("utf8", "ascii"):
            root = Path(cache_dir or datasets.config.HF_DATASETS_CACHE)
            files = [str(utf8_copy(Path(file), attr.encoding, root)) for file in files]
        dataset = datasets.load_dataset(builder, data_files=files, split="train", cache_dir=cache_dir, streaming=data_args.streaming)
    except Exception as error:
        if builder == "json":
            diagnose_json(files)
        elif builder == "csv":
            diagnose_csv(files)
        diagnose_mixed_files(attr, builder, files)
        if "corresponds to no data" in str(error):  # datasets' way of saying the files hold no rows
            raise DataError(f"Dataset {attr.name!r} ({', '.join(files)}) has no samples. Fill it or drop it from `dataset`.") from None
        raise DataError(f"Dataset {attr.name!r}: could not read {', '.join(files)}: {type(error).__name__}: {error}") from error
    if not data_args.streaming and len(dataset) == 0:
        raise DataError(f"Dataset {attr.name!r} ({', '.join(files)}) has no samples. Fill it or drop it from `dataset`.")
    return dataset


def _subsample(dataset: Any, attr: DatasetAttr, data_args: DataArguments, seed: int) -> Any:
    if attr.num_samples and not data_args.streaming:
        import numpy as np

        rng = np.random.default_rng(seed)
        indices = np.concatenate([rng.permutation(len(dataset)) for _ in range(-(-attr.num_samples // len(dataset)))])
        dataset = dataset.select(indices[: attr.num_samples].tolist())
    if data_args.max_samples:
        limit = data_args.max_samples
        dataset = dataset.take(limit) if data_args.streaming else dataset.select(range(min(limit, len(dataset))))
    return dataset


def check_format_guess(attr: DatasetAttr, strict: bool, warn: bool = True) -> None:
    """A dataset given as a path has its format guessed from its first record: say so, or refuse with strict_data."""
    if attr.guessed is None:
        return
    text = (f"Dataset {attr.name} is given as a path, so its format is guessed: {attr.guessed}. To state it, "
            f'register the file in dataset_info.json, e.g. "my_data": {{"file_name": "{Path(attr.path).name}", '
            f'"formatting": "{attr.formatting}"}}, and use `dataset: my_data`')
    if strict:
        raise DataError(f"{text}. strict_data is on, so a format is never guessed: register the file, or set "
                        "strict_data: false to accept the guess (with a warning).")
    if warn:
        logger.warning("%s.", text)


def check_response_column(attr: DatasetAttr, column_names: list[str], samples: int | None, strict: bool) -> None:
    """SFT learns the answers: an alpaca dataset without its answer column would have every sample dropped."""
    column = attr.column("response")
    if attr.formatting != "alpaca" or not column or column in column_names:
        return
    count = f"all {samples}" if samples is not None else "all"
    text = (f"Dataset {attr.name!r} ({attr.path}) has no answer column {column!r} (its columns: "
            f"{', '.join(column_names)}), so SFT drops {count} of its samples (no_response). Map the answer column in "
            'its dataset_info.json entry, e.g. "columns": {"response": "<your answer column>"}; a text corpus '
            "belongs to stage pt")
    if strict:
        raise DataError(f"{text}. strict_data is on: fix the entry or the file, or {STRICT_OFF}.")
    logger.warning("%s.", text)


def drop_unusable_rows(dataset: Any, attr: DatasetAttr, data_args: DataArguments) -> Any:
    """Rows without the value their format needs (an empty cell, a record of the other format): counted by
    reason and left out (WARNING), or refused with strict_data. Streamed data is checked as it is read."""
    if data_args.streaming:
        guard = StreamingGuard(f"Dataset {attr.name!r}", data_args.strict_data)
        return dataset.filter(guard, input_columns=["_drop", "_origin", "_row"]).remove_columns("_drop")
    import numpy as np
    import pyarrow.compute as pc

    column = dataset.data.column("_drop")  # a fresh table after map: positions are rows
    kept = pc.equal(column, KEPT).to_numpy(zero_copy_only=False)
    if not kept.all():
        bad = np.flatnonzero(~kept).tolist()
        drops = Drops()
        for index, status in zip(bad, column.take(bad).to_pylist()):
            drops.add(attr.name, status, index)
        report(drops, f"Dataset {attr.name!r} ({attr.path})", len(dataset), data_args.strict_data)
        dataset = dataset.select(np.flatnonzero(kept).tolist())
    return dataset.remove_columns("_drop")


def load_aligned(attr: DatasetAttr, data_args: DataArguments, seed: int = 42, cache_dir: str | None = None,
                 stage: str | None = None) -> Any:
    """Load one dataset and convert it to `_messages` / `_system` / `_origin` / `_row` (/ `_pii`).

    `stage` "sft" also checks that an alpaca dataset has its answer column (None: not known, not checked).
    """
    from datasets import Value

    check_format_guess(attr, data_args.strict_data)
    dataset = load_raw(attr, data_args, cache_dir)
    column_names = dataset.column_names
    complete = column_names is not None
    if column_names is None:  # streaming without known features: look at the first sample
        column_names = list(next(iter(dataset)).keys())
    check_columns(attr, column_names, attr.path, complete=complete, strict=data_args.strict_data)
    if stage == "sft":
        check_response_column(attr, column_names, None if data_args.streaming else len(dataset), data_args.strict_data)
    dataset = _subsample(dataset, attr, data_args, seed)
    features = aligned_features()
    fn_kwargs: dict[str, Any] = {"attr": attr, "deidentify": data_args.deidentify}
    if data_args.deidentify:
        from .deidentify import DEIDENTIFY_VERSION, REPLACEMENTS

        features["_pii"] = {kind: Value("int64") for kind in REPLACEMENTS}
        # datasets keys its cache on the map arguments, not on the scrubber's code: a new version re-runs
        fn_kwargs["deidentify_version"] = DEIDENTIFY_VERSION
    kwargs: dict[str, Any] = {}
    if not data_args.streaming:
        kwargs = {"num_proc": data_args.preprocessing_num_workers, "load_from_cache_file": not data_args.overwrite_cache,
                  "desc": f"Aligning {attr.name}"}
    dataset = dataset.map(
        align_batch, batched=True, with_indices=True, remove_columns=column_names, features=features,
        fn_kwargs=fn_kwargs, **kwargs,
    )
    return drop_unusable_rows(dataset, attr, data_args)


def mix(datasets_list: list[Any], data_args: DataArguments, seed: int) -> Any:
    import datasets

    if len(datasets_list) == 1:
        return datasets_list[0]
    if data_args.mix_strategy == "concat":
        return datasets.concatenate_datasets(datasets_list)
    probabilities = data_args.interleave_probs  # checked by the validator: one per dataset, summing to 1
    stopping = "first_exhausted" if data_args.mix_strategy == "interleave_under" else "all_exhausted"
    return datasets.interleave_datasets(datasets_list, probabilities=probabilities, seed=seed, stopping_strategy=stopping)


def load_datasets(data_args: DataArguments, seed: int = 42, cache_dir: str | None = None,
                  stage: str | None = None) -> dict[str, Any]:
    """{"train": ..., "eval": ...} of aligned samples, mixed and split as the arguments say (`stage`: load_aligned)."""
    splits: dict[str, Any] = {}
    for split, names in (("train", data_args.dataset), ("eval", data_args.eval_dataset)):
        attrs = get_dataset_attrs(names, data_args.dataset_dir)
        if attrs:
            splits[split] = mix([load_aligned(attr, data_args, seed, cache_dir, stage) for attr in attrs], data_args, seed)
    if data_args.val_size and "train" in splits:
        train = splits["train"]
        if data_args.streaming:
            size = int(data_args.val_size)
            held_out, train = train.take(size), train.skip(size)
        else:
            size = int(data_args.val_size) if data_args.val_size >= 1 else data_args.val_size
            if isinstance(size, int) and size >= len(train):
                raise DataError(f"val_size={size} holds out every one of the {len(train)} training samples; lower it.")
            parts = train.train_test_split(test_size=size, seed=seed)
            train, held_out = parts["train"], parts["test"]
        splits["train"] = train
        if "eval" in splits:
            import datasets

            held_out = datasets.concatenate_datasets([splits["eval"], held_out])
        splits["eval"] = held_out
    if data_args.streaming and "train" in splits:
        splits["train"] = splits["train"].shuffle(buffer_size=data_args.buffer_size, seed=seed)
    return splits
