"""dataset_info.json: LLaMA-Factory layout accepted unchanged, clear errors for unknown names."""

import json

import pytest
from conftest import ROOT, shared_path

from llmtuner.data.registry import get_dataset_attrs, read_dataset_info
from llmtuner.extras.errors import ConfigError, DataError

LLAMA_FACTORY_INFO = {
    # entries shaped like LLaMA-Factory's own data/dataset_info.json, extra keys included
    "alpaca_zh_demo": {"file_name": "alpaca_zh_demo.json"},
    "glaive_toolcall_zh_demo": {
        "file_name": "glaive_toolcall_zh_demo.json", "formatting": "sharegpt",
        "columns": {"messages": "conversations", "tools": "tools"},
    },
    "mllm_demo": {
        "file_name": "mllm_demo.json", "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
    },
    "identity": {"file_name": "identity.json", "file_sha1": "0123", "ranking": False},
    "c4_demo": {"file_name": "c4_demo.jsonl", "columns": {"prompt": "text"}},
    "alpaca_en": {"hf_hub_url": "llamafactory/alpaca_en", "ms_hub_url": "llamafactory/alpaca_en", "split": "train"},
}


def test_llama_factory_dataset_info_loads_unchanged(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps(LLAMA_FACTORY_INFO), encoding="utf-8")
    attrs = {a.name: a for a in get_dataset_attrs(list(LLAMA_FACTORY_INFO), str(tmp_path))}
    assert attrs["alpaca_zh_demo"].formatting == "alpaca" and attrs["alpaca_zh_demo"].column("response") == "output"
    assert attrs["mllm_demo"].tag("role_tag") == "role" and attrs["mllm_demo"].tag("system_tag") == "system"
    assert attrs["glaive_toolcall_zh_demo"].tag("user_tag") == "human"  # LLaMA-Factory's default tags
    assert attrs["c4_demo"].column("prompt") == "text"
    assert attrs["alpaca_en"].source == "hub" and attrs["alpaca_en"].path == "llamafactory/alpaca_en"
    assert attrs["identity"].path == str(tmp_path / "identity.json")


def test_project_registry_is_complete():
    info = read_dataset_info(str(ROOT / "data"))
    assert info, "data/dataset_info.json is missing or empty"
    for name, entry in info.items():
        assert (ROOT / "data" / entry["file_name"]).is_file(), f"{name}: {entry['file_name']} missing"


def test_shared_registry_via_dataset_dir():
    data_dir = shared_path("data")
    attrs = get_dataset_attrs(["medical_sft", "medical_sft_sharegpt", "medical_pt"], str(data_dir))
    assert [a.formatting for a in attrs] == ["alpaca", "sharegpt", "alpaca"]


def test_unknown_dataset_lists_registered(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"a": {"file_name": "a.json"}, "b": {"file_name": "b.json"}}))
    with pytest.raises(ConfigError, match=r"Unknown dataset 'c'.*Registered datasets: a, b"):
        get_dataset_attrs(["a", "c"], str(tmp_path))


def test_eval_only_format_is_refused_for_training(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"mcq": {"file_name": "m.json", "formatting": "mcq"}}))
    with pytest.raises(ConfigError, match="for evaluation, not training"):
        get_dataset_attrs(["mcq"], str(tmp_path))


def test_entry_without_location_and_broken_registry(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"x": {"columns": {}}}))
    with pytest.raises(DataError, match="neither `file_name` nor `hf_hub_url`"):
        get_dataset_attrs(["x"], str(tmp_path))
    (tmp_path / "dataset_info.json").write_text('{"x": {"file_name": "a.json"},\n "y": }')
    with pytest.raises(DataError, match="line 2"):
        get_dataset_attrs(["x"], str(tmp_path))


def test_paths_infer_their_format(tmp_path):
    (tmp_path / "chat.json").write_text(json.dumps([{"messages": [{"role": "user", "content": "q"}]}]))
    (tmp_path / "qa.json").write_text(json.dumps([{"instruction": "q", "output": "a"}]))
    (tmp_path / "corpus.txt").write_text("text\n")
    chat, qa, corpus = get_dataset_attrs(
        [str(tmp_path / name) for name in ("chat.json", "qa.json", "corpus.txt")], str(tmp_path)
    )
    assert chat.formatting == "sharegpt" and chat.tag("role_tag") == "role"
    assert qa.formatting == "alpaca" and qa.column("prompt") == "instruction"
    assert corpus.column("prompt") == "text"
