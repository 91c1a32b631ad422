"""Evaluation data: registered names or paths -> QA items, exam items or plain texts.

Loading goes through the same registry and `datasets` loader as training, so a dataset that
trains also evaluates; every sample keeps an id (its `id` column, else `<dataset>-<index>`) so
predictions can be resumed and compared, and a category (its `category` column, else "all").
"""

from dataclasses import dataclass, field
from typing import Any

from ..data.align import FORMATS
from ..data.loader import load_raw
from ..data.registry import get_dataset_attrs
from ..extras.errors import DataError
from ..hparams import DataArguments


@dataclass
class QaItem:
    id: str
    messages: list[dict[str, str]]
    """The conversation up to and including the question (ends with a user turn)."""
    reference: str
    category: str = "all"
    system: str | None = None

    @property
    def question(self) -> str:
        return self.messages[-1]["content"]


@dataclass
class TextItem:
    id: str
    text: str
    category: str = "all"
    extra: dict[str, Any] = field(default_factory=dict)


def _rows(data_args: DataArguments, formats: tuple[str, ...]) -> list[tuple[Any, int, dict[str, Any]]]:
    """(attr, index, row) for every sample of every eval dataset, max_samples per dataset."""
    rows = []
    for attr in get_dataset_attrs(data_args.eval_dataset, data_args.dataset_dir, formats=formats):
        dataset = load_raw(attr, data_args)
        limit = len(dataset) if data_args.max_samples is None else min(len(dataset), data_args.max_samples)
        rows += [(attr, index, dataset[index]) for index in range(limit)]
    return rows


def _identity(attr: Any, index: int, row: dict[str, Any], seen: set[str]) -> tuple[str, str]:
    item_id = str(row.get("id") or f"{attr.name}-{index}")
    if item_id in seen:
        raise DataError(f"Dataset {attr.name!r} sample {index}: id {item_id!r} appears twice. Ids must be unique "
                        "(predictions are resumed and compared by id); fix or remove the `id` column.")
    seen.add(item_id)
    return item_id, str(row.get("category") or "all")


def load_qa_items(data_args: DataArguments) -> list[QaItem]:
    """Alpaca or ShareGPT samples whose last turn is the reference answer."""
    items, seen = [], set()
    for attr, index, row in _rows(data_args, ("alpaca", "sharegpt")):
        messages, system = FORMATS[attr.formatting](row, attr, index)
        if not messages or messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
            raise DataError(f"Dataset {attr.name!r} sample {index}: no reference answer (the last turn must be a "
                            f"non-empty assistant answer, column {attr.column('response') or attr.column('messages')!r}). "
                            "Add the answer or drop the sample.")
        item_id, category = _identity(attr, index, row, seen)
        if data_args.deidentify:  # prompts, references and so predictions.jsonl and report.md hold no identifiers
            from ..data.deidentify import deidentify_messages, deidentify_text

            messages, _ = deidentify_messages(messages)
            system = deidentify_text(system)[0] if system else system
        items.append(QaItem(item_id, messages[:-1], messages[-1]["content"], category, system))
    if not items:
        raise DataError(f"eval_dataset {','.join(data_args.eval_dataset or [])} has no samples.")
    return items


def load_mcq_rows(data_args: DataArguments) -> list[tuple[str, dict[str, Any]]]:
    """(source, row) per exam question, columns renamed to question/options/answer/category/id/explanation."""
    rows = []
    for attr, index, row in _rows(data_args, ("mcq",)):
        mapped = {role: row.get(attr.columns.get(role, role)) for role in ("question", "options", "answer", "category")}
        mapped.update({key: row.get(key) for key in ("id", "explanation") if row.get(key) is not None})
        mapped.setdefault("id", f"{attr.name}-{index}")
        rows.append((attr.path, mapped))
    if not rows:
        raise DataError(f"eval_dataset {','.join(data_args.eval_dataset or [])} has no questions.")
    return rows


def load_texts(data_args: DataArguments) -> list[TextItem]:
    """Plain texts for perplexity: a text column, or every turn of a conversation joined by line breaks."""
    items, seen = [], set()
    for attr, index, row in _rows(data_args, ("alpaca", "sharegpt")):
        messages, _ = FORMATS[attr.formatting](row, attr, index)
        text = "\n".join(message["content"] for message in messages if message["content"])
        if not text.strip():
            raise DataError(f"Dataset {attr.name!r} sample {index}: empty text. Fill it or drop the sample.")
        item_id, category = _identity(attr, index, row, seen)
        items.append(TextItem(item_id, text, category))
    if not items:
        raise DataError(f"eval_dataset {','.join(data_args.eval_dataset or [])} has no texts.")
    return items
