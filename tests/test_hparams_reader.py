"""The one reader: every list-valued key parses the same from a YAML file and from the command line."""

import dataclasses
import typing

import pytest
import yaml

from llmtuner.extras.errors import ConfigError
from llmtuner.hparams import (
    DataArguments,
    EvaluationArguments,
    ExportArguments,
    FinetuningArguments,
    GeneratingArguments,
    ModelArguments,
    parse_eval_args,
    parse_export_args,
    parse_train_args,
)
from llmtuner.hparams.reader import assign_to_groups, read_sources

GROUPS = (ModelArguments, DataArguments, FinetuningArguments, GeneratingArguments, EvaluationArguments, ExportArguments)


def list_fields() -> list[tuple[type, str, type]]:
    """(group, key, item type) of every list-typed field, found from the annotations: a new list key is covered too."""
    found = []
    for cls in GROUPS:
        hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):
            annotation = hints[item.name]
            members = typing.get_args(annotation) if typing.get_origin(annotation) is not list else (annotation,)
            for member in members:
                if typing.get_origin(member) is list:
                    found.append((cls, item.name, typing.get_args(member)[0]))
    return found


def test_the_issue_list_keys_are_all_typed_as_lists():
    keys = {key for _, key, _ in list_fields()}
    assert {"dataset", "eval_dataset", "adapter_name_or_path", "lora_target", "additional_target",
            "freeze_trainable_modules", "freeze_extra_modules", "new_special_tokens", "term_lexicon", "eval_report",
            "interleave_probs", "compare"} <= keys


# (how it is written in YAML, how it is written on the command line); every one means the two items
YAML_SPELLINGS = ["[{a}, {b}]", "{a},{b}", "'{a}, {b}'", "{a},{b},", "' {a} , {b} ,'", "'{a},,{b}'"]
CLI_SPELLINGS = [["--{key}", "{a},{b}"], ["--{key}={a},{b}"], ["--{key}", "{a}, {b},"], ["--{key}= {a} ,{b} "]]


def _items(item_type: type) -> tuple[str, str, list]:
    if item_type is float:
        return "0.25", "0.75", [0.25, 0.75]
    return "q_proj", "data/x.json", ["q_proj", "data/x.json"]


def _read(group: type, argv: list[str]) -> dict:
    sources, _ = read_sources(argv)
    values, _ = assign_to_groups(sources, (group,), "test")
    return values[group]


@pytest.mark.parametrize(("group", "key", "item_type"), list_fields(), ids=lambda v: getattr(v, "__name__", str(v)))
def test_every_list_key_in_every_spelling(tmp_path, group, key, item_type):
    a, b, expected = _items(item_type)
    for index, spelling in enumerate(YAML_SPELLINGS):
        config = tmp_path / f"c{index}.yaml"
        config.write_text(f"{key}: {spelling.format(a=a, b=b)}\n", encoding="utf-8")
        assert _read(group, [str(config)])[key] == expected, spelling
    for spelling in CLI_SPELLINGS:
        argv = [token.format(key=key, a=a, b=b) for token in spelling]
        assert _read(group, argv)[key] == expected, argv
    config = tmp_path / "one.yaml"
    config.write_text(f"{key}: {a}\n", encoding="utf-8")
    assert _read(group, [str(config)])[key] == expected[:1]  # one item needs no list syntax


def test_empty_list_values_mean_unset_or_fail_when_a_value_is_required(tmp_path):
    assert _read(DataArguments, ["--dataset", ""])["dataset"] is None
    assert _read(DataArguments, ["--dataset", " , "])["dataset"] is None
    with pytest.raises(ConfigError, match="lora_target: give at least one item"):
        _read(FinetuningArguments, ["--lora_target", ","])
    with pytest.raises(ConfigError, match="interleave_probs: expected a number, got 'x'"):
        _read(DataArguments, ["--interleave_probs", "0.5,x"])
    config = tmp_path / "nested.yaml"
    config.write_text(yaml.safe_dump({"dataset": [["a", "b"]]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"dataset: items must be single values.*nested.yaml"):
        _read(DataArguments, [str(config)])


TRAIN = ["--model_name_or_path", "m", "--template", "qwen", "--output_dir", "out"]


def test_interleave_probs_with_a_trailing_comma_parses_and_is_checked(tmp_path):
    """It used to pass validation as a string and then fail with a traceback when the data was mixed."""
    mix = ["--dataset", "a,b", "--mix_strategy", "interleave_under"]
    config = parse_train_args([*TRAIN, *mix, "--interleave_probs", "0.5,0.5,"])
    assert config.data.interleave_probs == [0.5, 0.5] and config.data.dataset == ["a", "b"]
    with pytest.raises(ConfigError, match="interleave_probs has 3 values but dataset names 2"):
        parse_train_args([*TRAIN, *mix, "--interleave_probs", "0.5,0.25,0.25"])
    with pytest.raises(ConfigError, match="sum to 1"):
        parse_train_args([*TRAIN, *mix, "--interleave_probs", "0.5,0.6"])


def test_yaml_lists_and_flags_give_the_same_config_in_every_command(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"model_name_or_path": "m", "template": "qwen", "output_dir": "out",
                                      "dataset": ["a", "b"], "lora_target": ["q_proj", "v_proj"],
                                      "adapter_name_or_path": ["x", "y"]}), encoding="utf-8")
    from_file = parse_train_args([str(config)])
    from_flags = parse_train_args([*TRAIN, "--dataset", "a, b", "--lora_target", "q_proj,v_proj,",
                                   "--adapter_name_or_path", "x,y"])
    assert from_file.data == from_flags.data and from_file.finetuning == from_flags.finetuning
    assert from_file.model == from_flags.model
    lexicon = tmp_path / "terms.txt"
    lexicon.write_text("黄芪\t中药\n", encoding="utf-8")
    evaluated = parse_eval_args(["--model_name_or_path", "m", "--template", "qwen", "--output_dir", "o",
                                 "--eval_dataset", "a,b,", "--term_lexicon", f"{lexicon},"])
    assert evaluated.data.eval_dataset == ["a", "b"] and evaluated.eval.term_lexicon == [str(lexicon)]
    assert parse_eval_args(["--compare", "r1", "r2"]).eval.compare == ["r1", "r2"]
    exported = parse_export_args(["--model_name_or_path", "m", "--export_dir", "e", "--adapter_name_or_path", "x",
                                  "--dataset", "a,b"])
    assert exported.model.adapter_name_or_path == ["x"] and exported.export.dataset == ["a", "b"]


def test_reading_has_no_side_effects(monkeypatch):
    import os

    before = dict(os.environ)
    parse_train_args([*TRAIN, "--dataset", "a", "--deepspeed", "deepspeed_config.json", "--bf16"])
    assert dict(os.environ) == before


@pytest.mark.parametrize("text, place", [("a: 1\nb: [1, 2\nc: 3\n", "line 3, column 2, in what line 2 opened"),
                                         ("a: 1\n  b: 2\n", "line 2, column 4")])
def test_a_config_that_is_not_yaml_is_one_line_naming_file_and_line(tmp_path, capsys, text, place):
    from llmtuner.cli import main

    config = tmp_path / "broken.yaml"
    config.write_text(text, encoding="utf-8")
    assert main(["train", str(config)]) == 2
    error = capsys.readouterr().err.strip()
    assert f"{config} is not valid YAML ({place})" in error and "\n" not in error and "Traceback" not in error


def test_repeated_flags_keep_the_last_value_except_repeatable_keys():
    from llmtuner.hparams.reader import split_cli

    _, flags = split_cli(["--max_steps", "3", "--max_steps", "5", "--api_key", "a", "--api_key", "b,c"])
    from llmtuner.hparams.serve_parser import parse_serve_args

    config = parse_serve_args("api", ["--model_name_or_path", "embedded", "--template", "shuzhiqihuang",
                                      "--api_key", "a", "--api_key", "b,c", "--port", "1", "--port", "9"])
    assert config.api.api_key == ["a", "b", "c"] and config.api.port == 9
    assert flags["max_steps"] == ["3", "5"]  # kept raw; the group assignment takes the last for a one-value key
    train = parse_train_args(["--model_name_or_path", "embedded", "--template", "shuzhiqihuang", "--dataset", "a",
                              "--output_dir", "out", "--max_steps", "3", "--dataset", "b", "--max_steps", "5"])
    assert train.training["max_steps"] == 5 and train.data.dataset == ["b"]  # the launcher's default, then the user's
