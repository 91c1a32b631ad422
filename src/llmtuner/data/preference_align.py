"""Preference rows -> one schema: the prompt conversation, and the answers it is judged by.

LLaMA-Factory's layouts load unchanged:

- alpaca with `"ranking": true`: instruction / input / system / history as in SFT, `chosen` and `rejected` strings;
- sharegpt with `"ranking": true`: the conversation up to the user's last turn, `chosen` and `rejected` message
  objects (`{"from": "gpt", "value": ...}`, or `{"role": "assistant", "content": ...}` with OpenAI tags);
- KTO's unpaired layout: an SFT sample (alpaca `output`, or a conversation ending with the answer) plus a boolean
  `kto_tag` column (true: a desirable answer, false: an undesirable one).

Every aligned row has `_prompt` (user/assistant turns ending with the user's), `_system`, `_chosen` and `_rejected`
(a pair), or `_chosen` (the answer) and `_label` (KTO), plus `_origin` / `_row` (dataset, index) and `_problem`: ""
or what is wrong with the row, "field: reason". Problems are collected over the whole dataset and raised as one
DataError naming dataset, file, sample indices and fields, never their text (data.preference).
"""

import dataclasses
from typing import Any

from ..extras.errors import DataError
from .align import convert_alpaca, convert_sharegpt
from .registry import DatasetAttr

PAIR_ROLES = ("chosen", "rejected")

PROBLEMS = {
    "missing": "no value",
    "type": "not text (a string, or one message object with the answer)",
    "role": "a message that is not the assistant's",
    "empty": "empty",
    "identical": "the same answer as chosen: nothing to prefer",
    "not_user_last": "the conversation does not end with the user's turn (chosen and rejected answer it)",
    "no_answer": "the conversation does not end with the answer KTO judges",
    "label": "kto_tag is not true/false",
    "prompt_differs": "chosen and rejected render different prompts (one holds a <think> block, the other not)",
}
FIXES = {
    "missing": "fill in or remove those samples",
    "type": "write the answers as strings or message objects",
    "role": "give chosen/rejected the assistant's role",
    "empty": "fill in or remove the empty answers",
    "identical": "remove pairs whose answers are the same",
    "not_user_last": "end each conversation with the question; put the answers in chosen/rejected",
    "no_answer": "end each conversation with the answer being judged",
    "label": "write kto_tag as JSON true or false",
    "prompt_differs": "give both answers a <think> block, or neither",
}


def pair_column(attr: DatasetAttr, role: str) -> str | None:
    """The column of `chosen`, `rejected` or `kto_tag`: as mapped, else `chosen`/`rejected` for ranking data."""
    if role in attr.columns:
        return attr.columns[role]
    return role if attr.ranking and role in PAIR_ROLES else None


def is_unpaired(attr: DatasetAttr) -> bool:
    """KTO data: a kto_tag column and no pairs."""
    return not attr.ranking and pair_column(attr, "kto_tag") is not None


def required_pair_columns(attr: DatasetAttr) -> dict[str, str]:
    """role -> column this preference dataset must have, beside its format's prompt or messages column."""
    if attr.ranking:
        return {role: column for role in PAIR_ROLES if (column := pair_column(attr, role))}
    kto_tag = pair_column(attr, "kto_tag")
    if not kto_tag:
        return {}
    return {"kto_tag": kto_tag, **({"response": attr.column("response")} if attr.formatting == "alpaca" else {})}


def _answer(value: Any, attr: DatasetAttr) -> tuple[str | None, str]:
    """(text, problem) of a chosen/rejected cell: a string, a message object, or a list of one message."""
    if value is None:
        return None, "missing"
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        return value, ""
    if not isinstance(value, dict):
        return None, "type"
    role = value.get(attr.tag("role_tag"), value.get("role"))
    if role is not None and role not in (attr.tag("assistant_tag"), "assistant"):
        return None, "role"
    content = value.get(attr.tag("content_tag"), value.get("content"))
    return (content, "") if isinstance(content, str) else (None, "type")


def _conversation(row: dict[str, Any], attr: DatasetAttr, index: int, with_answer: bool) -> tuple[list, str | None]:
    """(messages, system) through the SFT converters; alpaca's answer column is read only for KTO data."""
    if attr.formatting == "sharegpt":
        return convert_sharegpt(row, attr, index)
    if not with_answer:
        attr = dataclasses.replace(attr, columns={**attr.columns, "response": None})
    return convert_alpaca(row, attr, index)


def align_pair(row: dict[str, Any], attr: DatasetAttr, index: int) -> dict[str, Any]:
    """One ranking row -> prompt, system, chosen, rejected and the first problem found ("" if none)."""
    messages, system = _conversation(row, attr, index, with_answer=False)
    aligned = {"_prompt": messages, "_system": system, "_chosen": "", "_rejected": "", "_label": None, "_problem": ""}
    if not messages or messages[-1]["role"] != "user":
        aligned["_problem"] = f"{attr.column('messages')}: not_user_last"
        aligned["_prompt"] = []
        return aligned
    for role in PAIR_ROLES:
        column = pair_column(attr, role) or role
        text, problem = _answer(row.get(column), attr)
        if not problem and not text.strip():
            problem = "empty"
        if problem:
            aligned["_problem"] = f"{column}: {problem}"
            return aligned
        aligned[f"_{role}"] = text
    if aligned["_chosen"].strip() == aligned["_rejected"].strip():
        aligned["_problem"] = f"{pair_column(attr, 'rejected')}: identical"
    return aligned


def align_unpaired(row: dict[str, Any], attr: DatasetAttr, index: int) -> dict[str, Any]:
    """One KTO row (an SFT sample plus kto_tag) -> prompt, system, the judged answer, its label."""
    messages, system = _conversation(row, attr, index, with_answer=True)
    aligned = {"_prompt": messages[:-1], "_system": system, "_chosen": "", "_rejected": "", "_label": None, "_problem": ""}
    tag_column = pair_column(attr, "kto_tag") or "kto_tag"
    label = row.get(tag_column)
    if not messages or messages[-1]["role"] != "assistant":
        answer_column = attr.column("messages") if attr.formatting == "sharegpt" else attr.column("response")
        aligned["_problem"], aligned["_prompt"] = f"{answer_column}: no_answer", []
    elif not messages[-1]["content"].strip():
        aligned["_problem"] = f"{attr.column('response') if attr.formatting == 'alpaca' else attr.column('messages')}: empty"
    elif not isinstance(label, bool):
        aligned["_problem"] = f"{tag_column}: {'missing' if label is None else 'label'}"
    else:
        aligned["_chosen"], aligned["_label"] = messages[-1]["content"], label
    return aligned


def align_preference_batch(batch: dict[str, list[Any]], indices: list[int], attr: DatasetAttr, deidentify: bool = False,
                           deidentify_version: str = "") -> dict[str, list[Any]]:
    """datasets.map function (batched, with indices). `deidentify_version` only keys the datasets cache."""
    align = align_unpaired if is_unpaired(attr) else align_pair
    keys = list(batch)
    out: dict[str, list[Any]] = {key: [] for key in ("_prompt", "_system", "_chosen", "_rejected", "_label", "_problem",
                                                     "_origin", "_row")}
    for position, index in enumerate(indices):
        aligned = align({key: batch[key][position] for key in keys}, attr, index)
        if deidentify and not aligned["_problem"]:
            aligned = _scrub(aligned)
        aligned.update(_origin=attr.name, _row=index)
        for key, value in aligned.items():
            out[key].append(value)
    return out


def _scrub(aligned: dict[str, Any]) -> dict[str, Any]:
    """One document: a name found in the prompt is replaced in the answers too."""
    from .deidentify import deidentify_messages, deidentify_text

    answers = [{"role": "assistant", "content": aligned[key]} for key in ("_chosen", "_rejected")]
    scrubbed, _ = deidentify_messages([*aligned["_prompt"], *answers])
    system = deidentify_text(aligned["_system"])[0] if aligned["_system"] else aligned["_system"]
    prompt_length = len(aligned["_prompt"])
    return dict(aligned, _prompt=scrubbed[:prompt_length], _system=system, _chosen=scrubbed[prompt_length]["content"],
                _rejected=scrubbed[prompt_length + 1]["content"])


def check_pair_columns(attr: DatasetAttr, column_names: list[str], stage: str) -> None:
    """The columns a preference stage reads must be there, and paired stages need pairs."""
    needed = required_pair_columns(attr)
    if not needed:
        raise DataError(
            f"Dataset {attr.name!r} ({attr.path}) holds no preferences for stage {stage}: register it with \"ranking\": "
            'true and its "chosen"/"rejected" columns (LLaMA-Factory\'s layout), or, for stage kto, map a boolean '
            '"kto_tag" column in "columns". SFT data trains with stage sft.')
    if stage != "kto" and "kto_tag" in needed:
        raise DataError(f"Dataset {attr.name!r} holds unpaired answers (kto_tag), but stage {stage} learns from pairs of "
                        "chosen and rejected answers: use stage kto, or a ranking dataset.")
    prompt_column = attr.column("messages") if attr.formatting == "sharegpt" else attr.column("prompt")
    missing = [f"{column!r} ({role})" for role, column in {"prompt": prompt_column, **needed}.items()
               if column not in column_names]
    if missing:
        raise DataError(f"Dataset {attr.name!r} ({attr.path}) has no column {', '.join(missing)}; its columns are "
                        f"{sorted(column_names)}. Map them in its dataset_info.json entry, e.g. \"columns\": "
                        '{"chosen": "<preferred answer column>", "rejected": "<worse answer column>"}.')
