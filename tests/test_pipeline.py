"""prepare_datasets: the whole data path, its statistics, and the guarantees around them."""

import json

import pytest

from llmtuner.data.pipeline import check_data_arguments, padding_fraction, prepare_datasets
from llmtuner.data.template_registry import get_template
from llmtuner.extras.errors import DataError
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


SECRET = "王秘密"  # stands for sample text: it must never reach a log line or an error message


def _two_datasets(folder):
    """'qa' (alpaca): sample 1 has an empty answer; 'dialogues' (sharegpt): sample 1 ends with the user."""
    qa = [{"instruction": f"{SECRET}问题{i}", "output": "" if i == 1 else f"回答{i}"} for i in range(3)]
    turn = [{"from": "human", "value": f"{SECRET}头痛"}, {"from": "gpt", "value": "多休息"}]
    dialogues = [{"conversations": turn}, {"conversations": turn[:1]}]
    (folder / "qa.json").write_text(json.dumps(qa, ensure_ascii=False), encoding="utf-8")
    (folder / "d.json").write_text(json.dumps(dialogues, ensure_ascii=False), encoding="utf-8")
    (folder / "dataset_info.json").write_text(json.dumps({
        "qa": {"file_name": "qa.json"}, "dialogues": {"file_name": "d.json", "formatting": "sharegpt"}}), encoding="utf-8")


def _prepare(folder, tokenizer, names, **kwargs):
    args = DataArguments(dataset=names, dataset_dir=str(folder), template="shuzhiqihuang", **kwargs)
    template = get_template("shuzhiqihuang")
    template.fix_tokenizer(tokenizer)
    return prepare_datasets(tokenizer, args, "sft", template=template, cache_dir=str(folder / "cache"))


def test_dropped_samples_are_warned_per_dataset_and_reason_with_indices_never_text(tmp_path, tiny_tokenizer, warnings_logged):
    _two_datasets(tmp_path)
    prepared = _prepare(tmp_path, tiny_tokenizer, ["qa", "dialogues"])
    stats = prepared.stats["train"]
    assert stats.samples == 5 and stats.kept == 3 and stats.dropped == {"no_response": 1, "empty_response": 1}
    assert len(stats.lengths) == len(prepared.train) == 3 and min(stats.lengths) > 0  # dropped rows are not counted
    [warning] = [line for line in warnings_logged if "samples dropped" in line]
    assert warning.startswith("The train data: 2 of 5 samples dropped: ")
    assert "dataset 'dialogues': 1 no_response (the conversation does not end with an assistant answer; sample 1)" in warning
    assert "dataset 'qa': 1 empty_response (the answer is empty; sample 1)" in warning and "strict_data: true" in warning
    assert not any(SECRET in line for line in warnings_logged)
    assert "_origin" not in prepared.train.column_names and "_row" not in prepared.train.column_names


def test_strict_data_turns_any_drop_into_an_error_naming_dataset_reason_count_samples_and_fix(tmp_path, tiny_tokenizer):
    _two_datasets(tmp_path)
    with pytest.raises(DataError) as error:
        _prepare(tmp_path, tiny_tokenizer, ["qa", "dialogues"], strict_data=True)
    message = str(error.value)
    assert "2 of 5 samples dropped" in message and "dataset 'qa': 1 empty_response" in message and "sample 1" in message
    assert "fill in or remove the empty answers" in message and "strict_data: false" in message and SECRET not in message
    clean = _prepare(tmp_path, tiny_tokenizer, ["qa"], strict_data=True, max_samples=1)  # nothing dropped: no error
    assert clean.stats["train"].kept == 1


def test_an_sft_dataset_without_its_answer_column_is_reported_and_refused_when_strict(tmp_path, tiny_tokenizer, warnings_logged):
    _two_datasets(tmp_path)
    (tmp_path / "questions.jsonl").write_text("".join(json.dumps({"instruction": f"{SECRET}{i}"}, ensure_ascii=False) + "\n"
                                                      for i in range(4)), encoding="utf-8")
    info = json.loads((tmp_path / "dataset_info.json").read_text(encoding="utf-8"))
    info["questions"] = {"file_name": "questions.jsonl"}
    (tmp_path / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")
    stats = _prepare(tmp_path, tiny_tokenizer, ["qa", "questions"]).stats["train"]
    assert stats.dropped["no_response"] == 4
    assert any("Dataset 'questions'" in line and "no answer column 'output'" in line and "all 4 of its samples" in line
               and '"response"' in line for line in warnings_logged)
    assert any("dataset 'questions': 4 no_response" in line and "samples 0, 1, 2, 3)" in line for line in warnings_logged)
    with pytest.raises(DataError, match=r"no answer column 'output'.*strict_data is on"):
        _prepare(tmp_path, tiny_tokenizer, ["questions"], strict_data=True)


def test_strict_data_stops_streamed_data_at_its_first_drop(tmp_path, tiny_tokenizer, warnings_logged):
    _two_datasets(tmp_path)
    streamed = _prepare(tmp_path, tiny_tokenizer, ["qa"], streaming=True)
    assert len(list(streamed.train)) == 2
    assert any("streamed" in line and "dataset 'qa': 1 empty_response" in line for line in warnings_logged)
    strict = _prepare(tmp_path, tiny_tokenizer, ["qa"], streaming=True, strict_data=True)
    with pytest.raises(DataError, match=r"dataset 'qa': 1 empty_response .*sample 1\).*strict_data is on"):
        list(strict.train)


def test_a_guessed_format_is_warned_and_refused_with_strict_data_before_anything_loads(tmp_path, tiny_tokenizer, warnings_logged):
    rows = [{"instruction": "问", "output": "答"}]
    (tmp_path / "mine.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    path = str(tmp_path / "mine.json")
    assert _prepare(tmp_path, tiny_tokenizer, [path]).stats["train"].kept == 1
    assert any(f"Dataset {path} is given as a path, so its format is guessed: alpaca" in line for line in warnings_logged)
    with pytest.raises(DataError, match=r"format is guessed: alpaca .*strict_data is on.*register the file"):
        check_data_arguments(DataArguments(dataset=[path], template="shuzhiqihuang", strict_data=True), "sft")
    check_data_arguments(DataArguments(dataset=[path], template="shuzhiqihuang"), "sft")  # only a warning, later


def test_train_with_strict_data_stops_on_a_dropped_sample_before_the_model_loads(tmp_path, capsys, monkeypatch):
    from run_helpers import sft_args
    from transformers import AutoModelForCausalLM

    from llmtuner.cli import main

    def refuse(*args, **kwargs):
        raise AssertionError("the model loaded before the data was checked")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)
    _two_datasets(tmp_path)
    argv = sft_args(tmp_path, tmp_path / "out", dataset="qa,dialogues", strict_data=True)
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert "llmtuner train: error: The train data: 2 of 5 samples dropped" in err and "dataset 'qa': 1 empty_response" in err
    assert "strict_data: false" in err and SECRET not in err and "Traceback" not in err
