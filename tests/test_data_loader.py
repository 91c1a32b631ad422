"""Loading through `datasets`: every file type, mixing, splitting, streaming, caching, bad input."""

import json

import pytest

from llmtuner.data.loader import load_datasets
from llmtuner.extras.errors import DataError
from llmtuner.hparams import DataArguments

ALPACA = [
    {"instruction": f"问题{i}", "input": "补充" if i % 2 else "", "output": f"回答{i}", "system": "", "history": []}
    for i in range(10)
]


def write_registry(folder, entries):
    (folder / "dataset_info.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")


def load(folder, **kwargs):
    args = DataArguments(dataset_dir=str(folder), **kwargs)
    return load_datasets(args, seed=1, cache_dir=str(folder / "cache"))


@pytest.fixture
def alpaca_dir(tmp_path):
    (tmp_path / "qa.json").write_text(json.dumps(ALPACA, ensure_ascii=False), encoding="utf-8")
    write_registry(tmp_path, {"qa": {"file_name": "qa.json", "columns": {"system": "system", "history": "history"}}})
    return tmp_path


def test_alpaca_to_messages(alpaca_dir):
    train = load(alpaca_dir, dataset=["qa"])["train"]
    assert len(train) == 10
    assert train[1]["_messages"] == [{"role": "user", "content": "问题1\n补充"}, {"role": "assistant", "content": "回答1"}]
    assert train[0]["_system"] is None


def test_alpaca_history_and_system(tmp_path):
    rows = [{"instruction": "再问", "input": "", "output": "再答", "system": "你是医生", "history": [["问", "答"]]}]
    (tmp_path / "h.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    write_registry(tmp_path, {"h": {"file_name": "h.json", "columns": {"system": "system", "history": "history"}}})
    row = load(tmp_path, dataset=["h"])["train"][0]
    assert [m["content"] for m in row["_messages"]] == ["问", "答", "再问", "再答"]
    assert row["_system"] == "你是医生"


def test_alpaca_file_by_path_uses_its_history_and_system(tmp_path):
    rows = [{"instruction": "再问", "input": "", "output": "再答", "system": "你是医生", "history": [["问", "答"]]}]
    (tmp_path / "mine.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    row = load(tmp_path, dataset=[str(tmp_path / "mine.json")])["train"][0]
    assert [m["content"] for m in row["_messages"]] == ["问", "答", "再问", "再答"]
    assert row["_system"] == "你是医生"


def test_unmapped_history_and_system_columns_are_reported(tmp_path, caplog):
    rows = [{"instruction": "再问", "input": "", "output": "再答", "system": "你是医生", "history": [["问", "答"]]}]
    (tmp_path / "h.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    write_registry(tmp_path, {"h": {"file_name": "h.json"}})  # LLaMA-Factory semantics: unmapped, so unused
    with caplog.at_level("WARNING"):
        row = load(tmp_path, dataset=["h"])["train"][0]
    assert [m["content"] for m in row["_messages"]] == ["再问", "再答"]
    assert 'has system and history column(s)' in caplog.text and '"system": "system", "history": "history"' in caplog.text
    assert "你是医生" not in caplog.text  # names the columns, never the contents


def test_sharegpt_with_system_and_custom_tags(tmp_path):
    rows = [{"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}]
    (tmp_path / "s.json").write_text(json.dumps(rows))
    (tmp_path / "m.jsonl").write_text(json.dumps({"msgs": [{"r": "u", "c": "Q2"}, {"r": "b", "c": "A2"}]}) + "\n")
    write_registry(tmp_path, {
        "s": {"file_name": "s.json", "formatting": "sharegpt"},
        "m": {"file_name": "m.jsonl", "formatting": "sharegpt", "columns": {"messages": "msgs"},
              "tags": {"role_tag": "r", "content_tag": "c", "user_tag": "u", "assistant_tag": "b"}},
    })
    train = load(tmp_path, dataset=["s", "m"])["train"]
    assert train[0]["_system"] == "S" and train[0]["_messages"][0] == {"role": "user", "content": "Q"}
    assert train[1]["_messages"][1] == {"role": "assistant", "content": "A2"}


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet", "txt", "folder"])
def test_file_types(tmp_path, kind):
    import pandas as pd

    frame = pd.DataFrame({"instruction": ["q1", "q2"], "output": ["a1", "a2"]})
    if kind == "jsonl":
        frame.to_json(tmp_path / "d.jsonl", orient="records", lines=True, force_ascii=False)
        entry = {"file_name": "d.jsonl"}
    elif kind == "csv":
        frame.to_csv(tmp_path / "d.csv", index=False)
        entry = {"file_name": "d.csv"}
    elif kind == "parquet":
        frame.to_parquet(tmp_path / "d.parquet")
        entry = {"file_name": "d.parquet"}
    elif kind == "txt":
        (tmp_path / "d.txt").write_text("第一段医学文本\n第二段医学文本\n", encoding="utf-8")
        entry = {"file_name": "d.txt", "columns": {"prompt": "text"}}
    else:
        (tmp_path / "parts").mkdir()
        frame.iloc[:1].to_json(tmp_path / "parts" / "a.jsonl", orient="records", lines=True)
        frame.iloc[1:].to_json(tmp_path / "parts" / "b.jsonl", orient="records", lines=True)
        entry = {"file_name": "parts"}
    write_registry(tmp_path, {"d": entry})
    train = load(tmp_path, dataset=["d"])["train"]
    assert len(train) == 2
    first = train[0]["_messages"]
    if kind == "txt":
        assert first == [{"role": "user", "content": "第一段医学文本"}]
    else:
        assert first == [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}]


def test_malformed_jsonl_names_file_and_line(tmp_path):
    lines = [json.dumps({"instruction": "q", "output": "a"})] * 2 + ['{"instruction": "q", "output": ']
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    write_registry(tmp_path, {"bad": {"file_name": "bad.jsonl"}})
    with pytest.raises(DataError, match=r"bad\.jsonl line 3: not valid JSON"):
        load(tmp_path, dataset=["bad"])


def test_a_field_that_changes_type_names_file_line_and_field(tmp_path):
    lines = [json.dumps({"instruction": "q", "output": "a"}), "", json.dumps({"instruction": "q2", "output": 5})]
    (tmp_path / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    write_registry(tmp_path, {"mixed": {"file_name": "mixed.jsonl"}})
    with pytest.raises(DataError, match=r"mixed\.jsonl line 3: field 'output' is a number, but a string in line 1"):
        load(tmp_path, dataset=["mixed"])


def test_a_csv_row_with_extra_fields_names_file_and_line(tmp_path):
    (tmp_path / "bad.csv").write_text("instruction,output\nq1,a1\nq2,a2,多余的字段\n", encoding="utf-8")
    write_registry(tmp_path, {"bad": {"file_name": "bad.csv"}})
    with pytest.raises(DataError, match=r"bad\.csv line 3: 3 fields, but the header has 2 \(instruction, output\)"):
        load(tmp_path, dataset=["bad"])


def test_missing_column_names_it_and_the_fix(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps([{"question": "q", "answer": "a"}]))
    write_registry(tmp_path, {"d": {"file_name": "d.json"}})
    with pytest.raises(DataError) as error:
        load(tmp_path, dataset=["d"])
    message = str(error.value)
    assert "'instruction'" in message and "['answer', 'question']" in message and '"columns"' in message


def test_empty_dataset(tmp_path):
    (tmp_path / "e.json").write_text("[]")
    (tmp_path / "z.jsonl").write_text("")
    write_registry(tmp_path, {"e": {"file_name": "e.json"}, "z": {"file_name": "z.jsonl"}})
    with pytest.raises(DataError, match="has no samples"):
        load(tmp_path, dataset=["e"])
    with pytest.raises(DataError, match="is empty"):
        load(tmp_path, dataset=["z"])


@pytest.mark.parametrize(
    "turns,expected",
    [
        ([("human", "q"), ("human", "q2")], r"sample 1, turn 1: found a user turn where a assistant"),
        ([("gpt", "a")], r"sample 1, turn 0: found a assistant turn where a user"),
        ([("human", "q"), ("system", "s")], r"sample 1, turn 1: a system turn may only come first"),
        ([("doctor", "q")], r"sample 1, turn 0: role 'doctor' is not one of the tags"),
        ([("human", "q"), ("function_call", "{}")], r"sample 1, turn 1: a 'function_call' turn is tool-calling data"),
    ],
)
def test_bad_role_order_names_dataset_sample_and_turn(tmp_path, turns, expected):
    good = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    bad = {"conversations": [{"from": role, "value": text} for role, text in turns]}
    (tmp_path / "c.json").write_text(json.dumps([good, bad]))
    write_registry(tmp_path, {"dialogues": {"file_name": "c.json", "formatting": "sharegpt"}})
    with pytest.raises(DataError, match=r"Dataset 'dialogues', " + expected):
        load(tmp_path, dataset=["dialogues"])


def test_max_samples_val_size_and_concat(alpaca_dir):
    splits = load(alpaca_dir, dataset=["qa", "qa"], max_samples=4, val_size=0.25)
    assert len(splits["train"]) + len(splits["eval"]) == 8 and len(splits["eval"]) == 2
    splits = load(alpaca_dir, dataset=["qa"], val_size=3)
    assert len(splits["eval"]) == 3


def test_interleave_with_probabilities(tmp_path):
    for name, prefix in (("a", "A"), ("b", "B")):
        rows = [{"instruction": f"{prefix}{i}", "output": "x"} for i in range(200)]
        (tmp_path / f"{name}.json").write_text(json.dumps(rows))
    write_registry(tmp_path, {"a": {"file_name": "a.json"}, "b": {"file_name": "b.json"}})
    train = load(tmp_path, dataset=["a", "b"], mix_strategy="interleave_under", interleave_probs=[0.8, 0.2])["train"]
    firsts = [row["_messages"][0]["content"][0] for row in train]
    share_a = firsts.count("A") / len(firsts)
    assert 0.7 < share_a < 0.9 and len(firsts) < 400  # stops when the first dataset runs out


def test_streaming_gives_iterable(alpaca_dir):
    splits = load(alpaca_dir, dataset=["qa"], streaming=True, val_size=2)
    import datasets

    assert isinstance(splits["train"], datasets.IterableDataset)
    assert len(list(splits["eval"])) == 2 and len(list(splits["train"])) == 8


def test_rerun_hits_the_cache(alpaca_dir):
    first = load(alpaca_dir, dataset=["qa"])["train"]
    second = load(alpaca_dir, dataset=["qa"])["train"]
    assert first.cache_files and first.cache_files == second.cache_files
    assert first._fingerprint == second._fingerprint


def test_deidentify_scrubs_before_tokenisation_and_counts(tmp_path):
    rows = [
        {"instruction": "患者张三，男，45岁，手机13812345678，咳嗽三天怎么办？", "output": "建议查血常规。"},
        {"instruction": "阿莫西林0.5g每日3次可以吗？", "output": "住院号：ZY2024031501 的化验已出。"},
    ]
    (tmp_path / "qa.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    write_registry(tmp_path, {"qa": {"file_name": "qa.json"}})
    train = load(tmp_path, dataset=["qa"], deidentify=True)["train"]
    assert train[0]["_messages"][0]["content"] == "患者[姓名]，男，45岁，手机[手机号]，咳嗽三天怎么办？"
    assert train[1]["_messages"][0]["content"] == rows[1]["instruction"]  # a dosage is not an identifier
    assert train[1]["_messages"][1]["content"] == "住院号：[病历号] 的化验已出。"
    assert train[0]["_pii"]["name"] == 1 and train[0]["_pii"]["mobile"] == 1
    assert train[1]["_pii"]["record_number"] == 1 and train[1]["_pii"]["name"] == 0
    plain = load(tmp_path, dataset=["qa"])["train"]
    assert "_pii" not in plain.column_names and "张三" in plain[0]["_messages"][0]["content"]


@pytest.mark.parametrize("kind", ["csv", "json", "jsonl"])
def test_a_mapped_column_the_file_lacks_names_dataset_file_column_the_columns_there_and_the_fix(tmp_path, kind, warnings_logged):
    rows = [{"question": "q1", "answer": "a1"}, {"question": "q2", "answer": "a2"}]
    if kind == "csv":
        (tmp_path / "d.csv").write_text("question,answer\nq1,a1\nq2,a2\n", encoding="utf-8")
    elif kind == "json":
        (tmp_path / "d.json").write_text(json.dumps(rows))
    else:
        (tmp_path / "d.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    # "Answer" for "answer": before this check every sample silently lost its answer and was dropped
    write_registry(tmp_path, {"qa_csv": {"file_name": f"d.{kind}", "columns": {"prompt": "question", "response": "Answer"}}})
    with pytest.raises(DataError) as error:
        load(tmp_path, dataset=["qa_csv"])
    message = str(error.value)
    assert "Dataset 'qa_csv'" in message and str(tmp_path / f"d.{kind}") in message
    assert "no column 'Answer' (response)" in message and "its columns are ['answer', 'question']" in message
    assert '"columns": {"response": "<one of the columns above>"}' in message and "case-sensitive" in message
    # an optional column (LLaMA-Factory entries often map "query": "input" for files without it) is a warning...
    write_registry(tmp_path, {"qa_csv": {"file_name": f"d.{kind}", "columns": {"prompt": "question", "query": "context",
                                                                              "response": "answer"}}})
    assert len(load(tmp_path, dataset=["qa_csv"])["train"]) == 2
    assert any("maps query to 'context', but the file has no such column" in line for line in warnings_logged)
    with pytest.raises(DataError, match=r"no column 'context' \(query\)"):  # ... and an error with strict_data
        load(tmp_path, dataset=["qa_csv"], strict_data=True)


def test_rows_of_another_format_and_empty_cells_are_dropped_at_load_with_counts_or_refused(tmp_path, warnings_logged):
    rows = [{"instruction": "病人头痛", "output": "a0"},
            {"conversations": [{"from": "human", "value": "病人发热"}, {"from": "gpt", "value": "a1"}]},
            {"output": "a2"}, {"instruction": "q3", "output": "a3"}]
    (tmp_path / "mixed.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "cells.csv").write_text("instruction,output\nq0,a0\n,a1\nq2,a2\n", encoding="utf-8")
    write_registry(tmp_path, {"mixed": {"file_name": "mixed.json"}, "cells": {"file_name": "cells.csv"}})
    train = load(tmp_path, dataset=["mixed"])["train"]
    assert [row["_messages"][1]["content"] for row in train] == ["a0", "a3"] and list(train["_row"]) == [0, 3]
    [warning] = warnings_logged
    assert warning.startswith("Dataset 'mixed' (") and "2 of 4 samples dropped" in warning
    assert "1 missing_field (" in warning and "sample 2)" in warning
    assert "1 other_format (a sample of the other format: the data holds both alpaca and sharegpt columns; sample 1)" in warning
    assert "病人" not in warning
    with pytest.raises(DataError, match=r"Dataset 'cells' .*1 of 3 samples dropped: dataset 'cells': 1 missing_field .*sample 1\)"
                                        r".*strict_data: false"):
        load(tmp_path, dataset=["cells"], strict_data=True)


def test_a_folder_whose_files_have_different_columns_names_the_files_and_their_formats(tmp_path):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "a.jsonl").write_text(json.dumps({"instruction": "q", "output": "a"}) + "\n")
    turns = [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]
    (tmp_path / "parts" / "b.jsonl").write_text(json.dumps({"conversations": turns}) + "\n")
    write_registry(tmp_path, {"parts": {"file_name": "parts"}})
    with pytest.raises(DataError) as error:
        load(tmp_path, dataset=["parts"])
    message = str(error.value)
    assert "Dataset 'parts': the files in folder" in message and "different columns" in message
    assert "a.jsonl: alpaca, columns ['instruction', 'output']" in message and "b.jsonl: sharegpt, columns ['conversations']" in message
    assert "its own dataset_info.json entry" in message and "DatasetGenerationError" not in message


@pytest.mark.parametrize("entry, expected", [
    ("qa.json", r"entry 'bad' is str, not an object: write it as \"bad\": \{\"file_name\""),
    ({"file_name": "qa.json", "formatting": "alpacca"}, r"formatting 'alpacca' is not one of alpaca, sharegpt, mcq"),
    ({"file_name": "qa.json", "num_samples": "100"}, r"num_samples must be a positive whole number of samples, got '100'"),
])
def test_a_malformed_registry_entry_names_the_entry_and_the_fix(alpaca_dir, entry, expected):
    write_registry(alpaca_dir, {"bad": entry})
    with pytest.raises(DataError, match=expected):
        load(alpaca_dir, dataset=["bad"])


def test_a_conversation_that_is_not_a_list_of_turns_names_dataset_sample_and_column(tmp_path):
    good = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    (tmp_path / "c.jsonl").write_text(json.dumps(good) + "\n" + json.dumps({"conversations": "q and a as one string"}) + "\n")
    write_registry(tmp_path, {"chats": {"file_name": "c.jsonl", "formatting": "sharegpt"}})
    with pytest.raises(DataError, match=r"Dataset 'chats', sample 1: column 'conversations' holds str, not a list of turns"):
        load(tmp_path, dataset=["chats"])
