"""The prompts of `llmtuner infer`: an input file or registered eval datasets, read and checked as one list.

Everything is parsed before the model loads, so a bad record costs seconds, not an hour of generation, and
the error names the file, the line (or sample) and the field with the fix, never the record's text.

Input files (`.jsonl` one record a line, `.json` a list of records, `.txt` one prompt a line); each JSON record
is read by its keys, so one file may mix them:
  alpaca    instruction (+ input, joined by a line break as in training), optional system and history
  sharegpt  conversations: [{from: human|gpt|system, value}] (or role/content)
  OpenAI    messages: [{role: system|user|assistant, content}] (content a string or text parts)
  plain     prompt (+ optional system)
The prompt is the conversation up to and including its last user turn: earlier answers are history, answers
after it (a reference in evaluation data) are not shown to the model, as the evaluator reads its datasets.
A record's id is its `id` field, else `line-N` (.jsonl, .txt; N counts lines from 1) or `sample-N` (.json,
N counts samples from 0); ids must be unique, since resuming skips the ids already answered.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..extras.errors import DataError
from ..hparams import ServeConfig
from .prompts import InvalidRequest, message_text

ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system",
         "developer": "system"}
TOOL_ROLES = ("function_call", "observation", "tool", "function")
SUFFIXES = (".jsonl", ".json", ".txt")


@dataclass(frozen=True)
class InferItem:
    id: str
    turns: list[dict[str, str]]
    """user/assistant alternating, ending with the user turn to answer."""
    system: str | None = None
    """The record's own system prompt; None means default_system (else the template's), as in evaluation."""

    @property
    def prompt(self) -> str:
        return self.turns[-1]["content"]

    def fingerprint(self) -> str:
        """What the model is shown, hashed: a rerun refuses to keep an answer whose id now holds another prompt."""
        payload = json.dumps({"system": self.system, "turns": self.turns}, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class BadRecord(Exception):
    """One record's problem, raised while parsing it; the caller adds the file and line."""

    def __init__(self, field: str | None, problem: str) -> None:
        super().__init__(f"field {field!r} {problem}" if field else f"the record {problem}")


def load_infer_items(config: ServeConfig) -> list[InferItem]:
    """Every prompt of the run, in input order: from input_file, or from eval_dataset as `llmtuner eval` reads it."""
    assert config.infer is not None
    if config.infer.input_file:
        items = read_input_file(config.infer.input_file)
        return _deidentified(items) if config.data.deidentify else items
    from ..eval.items import load_qa_items

    try:
        qa_items = load_qa_items(config.data)  # deidentifies when asked, as for evaluation
    except DataError as error:
        if "reference answer" not in str(error):
            raise
        raise DataError(f"{error} (infer reads eval_dataset as `llmtuner eval` does, each sample ending with its "
                        "answer, which the model is not shown; for prompts without answers use input_file.)") from None
    return [InferItem(item.id, item.messages, item.system) for item in qa_items]


def read_input_file(path: str | Path) -> list[InferItem]:
    """The records of a .jsonl, .json or .txt file as items; a DataError names the first bad line and field."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"input_file {path}: a {suffix or 'suffix-less'} file; give a .jsonl (one JSON record a line), "
                        ".json (a list of records) or .txt (one prompt a line) file.")
    entries = _json_entries(path) if suffix == ".json" else _line_entries(path, parse_json=suffix == ".jsonl")
    items: list[InferItem] = []
    seen: dict[str, str] = {}
    for where, default_id, record in entries:
        try:
            item_id = _record_id(record, default_id)
            turns, system = parse_record(record)
        except BadRecord as error:
            raise DataError(f"{path} {where}: {error}.") from None
        if item_id in seen:
            raise DataError(f"{path} {where}: id {item_id!r} is also the id of {seen[item_id]}. Ids must be unique "
                            "(a rerun skips the ids already answered): fix or remove the `id` field.")
        seen[item_id] = where
        items.append(InferItem(item_id, turns, system))
    if not items:
        raise DataError(f"input_file {path} holds no prompts.")
    return items


def _line_entries(path: Path, parse_json: bool) -> list[tuple[str, str, Any]]:
    entries = []
    for number, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        where = f"line {number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"{path} {where}: not UTF-8 text (byte {error.start + 1} of the line). Save the file as "
                            "UTF-8.") from None
        if not line.strip():
            continue
        if not parse_json:
            entries.append((where, f"line-{number}", {"prompt": line.strip()}))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:  # the message and column, never the line: it may hold a patient's data
            raise DataError(f"{path} {where}: not valid JSON ({error.msg}, column {error.colno}). Each line must be one "
                            "JSON object; fix or remove the line.") from None
        entries.append((where, f"line-{number}", record))
    return entries


def _json_entries(path: Path) -> list[tuple[str, str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataError(f"input_file {path} is not UTF-8 text. Save it as UTF-8.") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path} line {error.lineno}: not valid JSON ({error.msg}, column {error.colno}). Fix the file, "
                        "or write one record a line as .jsonl.") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: a .json input_file holds a list of records ([{{...}}, ...]), not a JSON "
                        f"{type(data).__name__}.")
    return [(f"sample {index}", f"sample-{index}", record) for index, record in enumerate(data)]


def _record_id(record: Any, default: str) -> str:
    if not isinstance(record, dict):
        raise BadRecord(None, f"is a JSON {type(record).__name__}; each record is an object such as "
                              '{"instruction": ...}, {"messages": [...]} or {"prompt": ...}')
    value = record.get("id")
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRecord("id", f"is a {type(value).__name__}; give a string or an integer, or leave it out")
    return str(value)


def parse_record(record: dict[str, Any]) -> tuple[list[dict[str, str]], str | None]:
    """(turns ending with the user turn to answer, system or None) of one JSON record in any accepted format."""
    system = _optional_text(record, "system")
    if "messages" in record or "conversations" in record:
        key = "messages" if "messages" in record else "conversations"
        turns, turn_system = _conversation(record[key], key)
        return turns, turn_system if turn_system is not None else system
    if "instruction" in record:
        turns = _alpaca_history(record.get("history"))
        question = "\n".join(part for part in (_text(record, "instruction"), _optional_text(record, "input")) if part)
        return _ending_with(turns, question, "instruction"), system
    if "prompt" in record:
        return _ending_with([], _text(record, "prompt"), "prompt"), system
    raise BadRecord(None, "has no prompt: give `instruction` (alpaca), `conversations` (sharegpt), `messages` "
                          "(OpenAI) or `prompt`")


def _text(record: dict[str, Any], field: str) -> str:
    value = record.get(field)
    if not isinstance(value, str):
        raise BadRecord(field, f"is {_kind(value)}; it must be a string")
    return value


def _optional_text(record: dict[str, Any], field: str) -> str | None:
    return None if record.get(field) is None else _text(record, field)


def _kind(value: Any) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"


def _ending_with(turns: list[dict[str, str]], question: str, field: str) -> list[dict[str, str]]:
    if not question.strip():
        raise BadRecord(field, "is empty; the model needs a question to answer. Fill it or remove the record")
    return [*turns, {"role": "user", "content": question}]


def _alpaca_history(history: Any) -> list[dict[str, str]]:
    if history is None:
        return []
    if not isinstance(history, list):
        raise BadRecord("history", f"is {_kind(history)}; it must be a list of [question, answer] pairs")
    turns = []
    for index, pair in enumerate(history):
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(text, str) for text in pair):
            raise BadRecord(f"history[{index}]", "is not a [question, answer] pair of strings")
        turns += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    return turns


def _conversation(messages: Any, key: str) -> tuple[list[dict[str, str]], str | None]:
    """Turns (cut after the last user turn) and the leading system text of a sharegpt/OpenAI conversation."""
    if not isinstance(messages, list) or not messages:
        raise BadRecord(key, f"is {_kind(messages) if messages != [] else 'empty'}; it must be a non-empty list of "
                             "{role, content} (or {from, value}) objects")
    system, turns, fields = None, [], []
    for index, message in enumerate(messages):
        where = f"{key}[{index}]"
        if not isinstance(message, dict):
            raise BadRecord(where, f"is {_kind(message)}; each turn is an object with role and content (or from and value)")
        role_key, content_key = ("role", "content") if "role" in message else ("from", "value")
        raw_role = message.get(role_key)
        role = ROLES.get(raw_role) if isinstance(raw_role, str) else None
        if role is None:
            problem = ("is a tool-calling turn, which our templates cannot render; remove tool-calling records"
                       if raw_role in TOOL_ROLES else "is not one of user, assistant, system (sharegpt: human, gpt, system)")
            raise BadRecord(f"{where}.{role_key}", problem)
        try:
            content = message_text(message.get(content_key), where)
        except InvalidRequest:
            raise BadRecord(f"{where}.{content_key}", "must be a string (or a list of text parts)") from None
        if role == "system":
            if index != 0:
                raise BadRecord(f"{where}.{role_key}", "is a system turn after the first turn; move it to the start")
            system = content
            continue
        expected = "user" if len(turns) % 2 == 0 else "assistant"
        if role != expected:
            raise BadRecord(f"{where}.{role_key}", f"is {role!r} where {expected!r} was expected; turns alternate user, "
                                                   "assistant, ... starting with user")
        turns.append({"role": role, "content": content})
        fields.append(f"{where}.{content_key}")
    while turns and turns[-1]["role"] == "assistant":  # the reference answer (evaluation data): not shown to the model
        turns.pop()
    if not turns:
        raise BadRecord(key, "has no user turn to answer")
    if not turns[-1]["content"].strip():
        raise BadRecord(fields[len(turns) - 1], "is empty; the model needs a question. Fill it or remove the record")
    return turns, system


def _deidentified(items: list[InferItem]) -> list[InferItem]:
    """`deidentify: true`: prompts (and so the output file) hold no identifiers, as in training and evaluation."""
    from ..data.deidentify import deidentify_messages, deidentify_text

    scrubbed = []
    for item in items:
        turns, _ = deidentify_messages(item.turns)
        system = deidentify_text(item.system)[0] if item.system else item.system
        scrubbed.append(InferItem(item.id, turns, system))
    return scrubbed
