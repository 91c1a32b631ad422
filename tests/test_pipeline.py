"""prepare_datasets: the whole data path, its statistics, and the guarantees around them."""

import json

from llmtuner.data.pipeline import padding_fraction, prepare_datasets
from llmtuner.data.template_registry import get_template
from llmtuner.hparams import DataArguments


def _write(folder, rows):
    (folder / "qa.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (folder / "dataset_info.json").write_text(json.dumps({"qa": {"file_name": "qa.json"}}), encoding="utf-8")


def test_deidentify_counts_reach_the_statistics_and_no_identifier_reaches_the_tokens(tmp_path, tiny_tokenizer):
    rows = [
        {"instruction": "患者张三，男，45岁，手机13812345678，咳嗽怎么办？", "output": "建议复查。"},
        {"instruction": "身份证11010519491231002X的化验单在哪？", "output": "请拨打010-62345678。"},
        {"instruction": "麻黄6g可以吗？", "output": "遵医嘱。"},
    ]
    _write(tmp_path, rows)
    args = DataArguments(dataset=["qa"], dataset_dir=str(tmp_path), template="shuzhiqihuang", deidentify=True)
    template = get_template("shuzhiqihuang")
    template.fix_tokenizer(tiny_tokenizer)  # what the training workflow does before the pipeline runs
    prepared = prepare_datasets(tiny_tokenizer, args, "sft", template=template, cache_dir=str(tmp_path / "cache"))
    assert prepared.stats["train"].pii == {"email": 0, "id_card": 1, "record_number": 0, "mobile": 1, "landline": 1, "name": 1,
                                           "address": 0, "birth_date": 0, "wechat": 0, "qq": 0, "passport": 0}
    text = "".join(tiny_tokenizer.decode(ids) for ids in prepared.train["input_ids"])
    for secret in ("张三", "13812345678", "11010519491231002X", "62345678"):
        assert secret not in text
    assert "麻黄6g" in text and "[手机号]" in text


def test_padding_fraction_is_zero_for_equal_lengths_and_grows_with_spread():
    assert padding_fraction([10] * 16, batch_size=4) == 0.0
    # one batch of all 16 rows: every row padded to 100 tokens, 808 of 1600 are real
    assert abs(padding_fraction([1, 100] * 8, batch_size=16) - (1 - 808 / 1600)) < 1e-12
