"""A dataset's format from its columns, and the dataset_info.json entry that makes the loader read it so.

    preference  chosen + rejected (LLaMA-Factory's `ranking: true`), on an alpaca prompt or a sharegpt conversation
    kto         an SFT sample (alpaca output, or a conversation ending with the answer) + a boolean kto_tag
    sharegpt    conversations or messages (tags read from the first turn: from/value/human/gpt or role/content)
    mcq         question + options (exam evaluation)
    alpaca      instruction + output (input, system, history when present)
    text        text (continued pretraining, stage pt); every .txt file
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...data.registry import DatasetAttr
from ...extras.errors import DataError

FORMATS = ("alpaca", "sharegpt", "text", "preference", "kto", "mcq")
OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
               "system_tag": "system"}
EXPECTED = ("alpaca: instruction, output (input, system, history optional); sharegpt: conversations or messages; "
            "text: text; preference: instruction or prompt, chosen, rejected; kto: an alpaca or sharegpt sample and "
            "kto_tag; mcq: question, options, answer")


@dataclass
class Detected:
    format: str
    entry: dict[str, Any]
    """dataset_info.json entry without file_name: formatting, columns, tags, ranking."""

    def attr(self, name: str, path: str) -> DatasetAttr:
        attr = DatasetAttr(name=name, source="file", path=path, formatting=self.entry["formatting"],
                           columns=dict(self.entry.get("columns", {})), tags=dict(self.entry.get("tags", {})))
        if self.entry.get("ranking"):
            attr.ranking = True
        return attr


def _present(columns: list[str], *names: str) -> dict[str, str]:
    return {name: name for name in names if name in columns}


def _conversation_tags(first: dict[str, Any] | None, column: str) -> dict[str, str]:
    turns = (first or {}).get(column)
    turn = turns[0] if isinstance(turns, list) and turns and isinstance(turns[0], dict) else {}
    return dict(OPENAI_TAGS) if "role" in turn or (column == "messages" and "from" not in turn) else {}


def detect_format(columns: list[str], first: dict[str, Any] | None, file_type: str) -> Detected:
    if file_type == "text":
        return Detected("text", {"formatting": "alpaca", "columns": {"prompt": "text"}})
    conversation = next((name for name in ("conversations", "messages") if name in columns), None)
    if "chosen" in columns and "rejected" in columns:
        if conversation:
            return Detected("preference", {"formatting": "sharegpt", "ranking": True,
                                           "columns": {"messages": conversation, "chosen": "chosen", "rejected": "rejected",
                                                       **_present(columns, "system")},
                                           "tags": _conversation_tags(first, conversation)})
        prompt = next((name for name in ("instruction", "prompt", "question") if name in columns), None)
        if prompt is None:
            raise DataError(f"Preference pairs need a prompt column (instruction or prompt) beside chosen and rejected; "
                            f"the columns are {sorted(columns)}. Rename the prompt column.")
        return Detected("preference", {"formatting": "alpaca", "ranking": True, "columns": {
            "prompt": prompt, **({"query": "input"} if "input" in columns else {}), **_present(columns, "system", "history"),
            "chosen": "chosen", "rejected": "rejected"}})
    kto = {"kto_tag": "kto_tag"} if "kto_tag" in columns else {}
    if conversation:
        columns_map = {"messages": conversation, **_present(columns, "system"), **kto}
        return Detected("kto" if kto else "sharegpt", {"formatting": "sharegpt", "columns": columns_map,
                                                       "tags": _conversation_tags(first, conversation)})
    if "question" in columns and "options" in columns:
        return Detected("mcq", {"formatting": "mcq", "columns": {**_present(columns, "question", "options", "answer", "category")}})
    if "instruction" in columns:
        if "output" not in columns:
            raise DataError(f"An alpaca dataset needs an `output` column (the answer to learn) beside `instruction`; the "
                            f"columns are {sorted(columns)}. Add or rename the answer column.")
        return Detected("kto" if kto else "alpaca", {"formatting": "alpaca", "columns": {
            "prompt": "instruction", **({"query": "input"} if "input" in columns else {}), "response": "output",
            **_present(columns, "system", "history"), **kto}})
    if "text" in columns:
        return Detected("text", {"formatting": "alpaca", "columns": {"prompt": "text"}})
    raise DataError(f"The format cannot be told from the columns {sorted(columns)}. Expected {EXPECTED}. Rename the columns.")
