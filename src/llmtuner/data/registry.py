"""`dataset_info.json`: dataset names -> where the data is and how its columns map to messages.

The layout is LLaMA-Factory's, so a user's existing `dataset_info.json` loads unchanged: keys
this project does not use (file_sha1, images, ...) are accepted and ignored; `ranking: true` marks preference
pairs (chosen/rejected columns) for the preference stages (data.preference). A dataset
can also be named by a file or folder path; its format is then inferred from its columns.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..extras.constants import DATASET_INFO_NAME
from ..extras.errors import ConfigError, DataError

FILE_TYPES = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text", ".arrow": "arrow"}
TRAINING_FORMATS = ("alpaca", "sharegpt")
KNOWN_FORMATS = (*TRAINING_FORMATS, "mcq")

DEFAULT_COLUMNS = {
    "alpaca": {"prompt": "instruction", "query": "input", "response": "output", "system": None, "history": None},
    "sharegpt": {"messages": "conversations", "system": None},
}
DEFAULT_TAGS = {
    "role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
    "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system",
}


@dataclass
class DatasetAttr:
    name: str
    source: str  # "file" or "hub"
    path: str  # file/folder path (source file) or repository id (source hub)
    formatting: str = "alpaca"
    split: str = "train"
    subset: str | None = None
    num_samples: int | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None  # of local files; None: UTF-8 (checked before loading, data/encoding.py)
    ranking: bool = False
    """Preference pairs: `chosen` / `rejected` columns (LLaMA-Factory's `ranking: true`), read by data.preference."""
    guessed: str | None = None
    """How the format was guessed, for a dataset given as a path (None: the registry entry states it)."""

    def column(self, role: str) -> Any:
        return self.columns.get(role, DEFAULT_COLUMNS.get(self.formatting, {}).get(role))

    def tag(self, role: str) -> str:
        return self.tags.get(role, DEFAULT_TAGS[role])


def read_dataset_info(dataset_dir: str) -> dict[str, dict[str, Any]]:
    path = Path(dataset_dir) / DATASET_INFO_NAME
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(f"{path} line {error.lineno}: not valid JSON ({error.msg}). Fix that line.") from error
    if not isinstance(info, dict):
        raise DataError(f"{path} must be a JSON object mapping dataset names to their attributes.")
    return info


def _attr_from_entry(name: str, entry: dict[str, Any], dataset_dir: str) -> DatasetAttr:
    where = f"{Path(dataset_dir) / DATASET_INFO_NAME} entry {name!r}"
    if not isinstance(entry, dict):
        raise DataError(f'{where} is {type(entry).__name__}, not an object: write it as "{name}": {{"file_name": '
                        '"<file under dataset_dir>"} (plus "formatting", "columns" as needed).')
    if "file_name" in entry:
        source, path = "file", str(Path(dataset_dir) / entry["file_name"])
    elif "hf_hub_url" in entry:
        source, path = "hub", entry["hf_hub_url"]
    else:
        keys = ", ".join(sorted(entry)) or "none"
        raise DataError(f"{where} has neither `file_name` nor `hf_hub_url` (keys: {keys}). Add `file_name`: the file under {dataset_dir}.")
    columns = entry.get("columns") or {}
    tags = entry.get("tags") or {}
    if not isinstance(columns, dict) or not isinstance(tags, dict):
        raise DataError(f"{where}: `columns` and `tags` must be JSON objects.")
    formatting = entry.get("formatting", "alpaca")
    if formatting not in KNOWN_FORMATS:
        raise DataError(f"{where}: formatting {formatting!r} is not one of {', '.join(KNOWN_FORMATS)} (alpaca and sharegpt "
                        "train; mcq is for exam evaluation). Fix the entry's `formatting`.")
    num_samples = entry.get("num_samples")
    if num_samples is not None and (not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0):
        raise DataError(f"{where}: num_samples must be a positive whole number of samples, got {num_samples!r}.")
    ranking = entry.get("ranking", False)
    if not isinstance(ranking, bool):
        raise DataError(f"{where}: ranking must be true or false, got {ranking!r}.")
    return DatasetAttr(
        name=name, source=source, path=path, formatting=formatting, ranking=ranking,
        split=entry.get("split", "train"), subset=entry.get("subset"), num_samples=num_samples,
        columns=columns, tags=tags, encoding=entry.get("encoding"),
    )


def _attr_from_path(path: Path) -> DatasetAttr:
    """A dataset given as a path: alpaca or sharegpt, told apart by its first record's keys (`guessed` says how)."""
    formatting = "alpaca"
    first = path if path.is_file() else next((p for p in sorted(path.rglob("*")) if p.suffix in FILE_TYPES), None)
    name = str(path)
    if first is not None and first.suffix in (".json", ".jsonl"):
        with first.open(encoding="utf-8", errors="replace") as handle:  # only sniffs keys; the encoding is checked on load
            head = handle.read(4096)
        sniffed = f"from the keys in the first 4 kB of {first.name}"
        if '"options"' in head and '"question"' in head:
            return DatasetAttr(name=name, source="file", path=name, formatting="mcq", guessed=f"mcq ({sniffed})")
        if '"conversations"' in head or '"messages"' in head:
            formatting = "sharegpt"
            if '"messages"' in head and '"conversations"' not in head:
                return DatasetAttr(name=name, source="file", path=name, formatting=formatting,
                                   columns={"messages": "messages"},
                                   tags={"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
                                   guessed=f"sharegpt with OpenAI-style messages/role/content ({sniffed})",
                                   ranking='"chosen"' in head and '"rejected"' in head)
        elif '"text"' in head and '"instruction"' not in head:
            return DatasetAttr(name=name, source="file", path=name, columns={"prompt": "text"},
                               guessed=f"a text corpus, column `text` ({sniffed})")
        guess = f"{formatting} ({sniffed})"
    elif first is not None and first.suffix == ".txt":
        return DatasetAttr(name=name, source="file", path=name, columns={"prompt": "text"})  # a .txt is text: no guess
    else:
        guess = f"alpaca (the default; {first.name if first is not None else 'the path'} was not sniffed)"
    columns = {}
    ranking = first is not None and first.suffix in (".json", ".jsonl") and '"chosen"' in head and '"rejected"' in head
    if ranking:
        guess += ", preference pairs (chosen/rejected)"
    if formatting == "alpaca" and first is not None and first.suffix in (".json", ".jsonl"):
        columns = {role: role for role in ("system", "history") if f'"{role}"' in head}  # used when the file has them
    return DatasetAttr(name=name, source="file", path=name, formatting=formatting, columns=columns, guessed=guess,
                       ranking=ranking)


def get_dataset_attrs(
    names: list[str] | None, dataset_dir: str, formats: tuple[str, ...] | None = None
) -> list[DatasetAttr]:
    """Resolve dataset names or paths; unknown names list the registered ones.

    `formats` are the formattings an evaluation task reads; None means training (alpaca and sharegpt).
    """
    info = read_dataset_info(dataset_dir)
    attrs = []
    for name in names or []:
        if name in info:
            attr = _attr_from_entry(name, info[name], dataset_dir)
        elif Path(name).exists():
            attr = _attr_from_path(Path(name))
        else:
            registered = ", ".join(sorted(info)) or f"none ({Path(dataset_dir) / DATASET_INFO_NAME} not found)"
            raise ConfigError(
                f"Unknown dataset {name!r}: not in {Path(dataset_dir) / DATASET_INFO_NAME} and not an existing path. "
                f"Registered datasets: {registered}. Add an entry there, or pass a file path."
            )
        if formats is not None and attr.formatting not in formats:
            raise ConfigError(
                f"Dataset {name!r} has formatting {attr.formatting!r}; this task reads {' or '.join(formats)} datasets."
            )
        if formats is None and attr.formatting not in TRAINING_FORMATS:
            raise ConfigError(
                f"Dataset {name!r} has formatting {attr.formatting!r}, which is for evaluation, not training. "
                f"Training datasets are {' or '.join(TRAINING_FORMATS)}; score it with `python src/evaluate.py`."
            )
        attrs.append(attr)
    return attrs
