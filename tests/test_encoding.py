"""Dataset files in GBK/GB18030 (common in hospital exports): read when the registry names the encoding, named otherwise."""

import json

import pytest

from llmtuner.data.encoding import check_encoding
from llmtuner.extras.errors import DataError

ANSWER = "痰热壅肺证，治宜清热化痰，可用清金化痰汤加减。"
ROWS = [{"instruction": f"患者第{i}天咳嗽，痰黄稠，舌红苔黄，如何辨证？", "output": ANSWER} for i in range(6)]


def _register(folder, entry):
    (folder / "dataset_info.json").write_text(json.dumps({"gbk_qa": {"file_name": "qa.json", **entry}}), encoding="utf-8")


def test_a_gbk_file_is_named_with_its_likely_encoding_and_read_when_given(tmp_path):
    from llmtuner.data.loader import load_raw
    from llmtuner.data.registry import get_dataset_attrs
    from llmtuner.hparams import DataArguments

    (tmp_path / "qa.json").write_bytes(json.dumps(ROWS, ensure_ascii=False).encode("gbk"))
    _register(tmp_path, {})
    args = DataArguments(dataset=["gbk_qa"], dataset_dir=str(tmp_path))
    [attr] = get_dataset_attrs(["gbk_qa"], str(tmp_path))
    with pytest.raises(DataError, match=r"qa.json is not UTF-8 text \(byte \d+\); it reads as GB18030") as error:
        load_raw(attr, args, cache_dir=str(tmp_path / "cache"))
    assert '"encoding": "gb18030"' in str(error.value) and "iconv -f GB18030 -t UTF-8" in str(error.value)
    assert "咳嗽" not in str(error.value)  # never the records themselves
    _register(tmp_path, {"encoding": "gb18030"})
    [attr] = get_dataset_attrs(["gbk_qa"], str(tmp_path))
    dataset = load_raw(attr, args, cache_dir=str(tmp_path / "cache"))
    assert dataset[0]["instruction"] == ROWS[0]["instruction"] and len(dataset) == len(ROWS)


def test_utf8_passes_and_an_unknown_encoding_is_named(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(ROWS[0], ensure_ascii=False) + "\n", encoding="utf-8")
    check_encoding(path, "a", None)
    with pytest.raises(DataError, match="encoding 'klingon' is not known"):
        check_encoding(path, "a", "klingon")
