"""`llmtuner chat / infer / api` arguments: the recorded template, adapters by name, API keys, repeated flags."""

import json

import pytest

from llmtuner.extras.errors import ConfigError
from llmtuner.hparams.serve_parser import parse_serve_args

BASE = ["--model_name_or_path", "embedded"]


def adapter_folder(root, name, template=None, default_system=None, dora=False, peft_type="LORA"):
    folder = root / name
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": peft_type, "use_dora": dora, "r": 8}))
    (folder / "adapter_model.safetensors").write_bytes(b"")  # present is all the checks look at; nothing loads
    if template:
        record = {"data": {"template": template, "default_system": default_system}}
        (folder / "llmtuner_args.json").write_text(json.dumps(record), encoding="utf-8")
    return folder


def test_the_template_and_system_prompt_default_to_what_training_recorded(tmp_path):
    adapter = adapter_folder(tmp_path, "lora", template="qwen", default_system="你是中医助手。")
    config = parse_serve_args("chat", [*BASE, "--adapter_name_or_path", str(adapter)])
    assert (config.data.template, config.data.default_system) == ("qwen", "你是中医助手。")


def test_another_template_than_the_recorded_one_is_refused_unless_forced(tmp_path):
    adapter = adapter_folder(tmp_path, "lora", template="qwen")
    argv = [*BASE, "--adapter_name_or_path", str(adapter), "--template", "llama3"]
    with pytest.raises(ConfigError, match=r"template 'llama3' differs from 'qwen'.*force_template"):
        parse_serve_args("chat", argv)
    config = parse_serve_args("chat", [*argv, "--force_template", "true"])
    assert config.data.template == "llama3" and config.data.default_system is None  # the record's system is qwen's


def test_a_release_names_its_template_in_export_info(tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    (release / "export_info.json").write_text(json.dumps({"template": "shuzhiqihuang"}))
    assert parse_serve_args("chat", ["--model_name_or_path", str(release)]).data.template == "shuzhiqihuang"


def test_without_a_record_or_a_template_the_message_lists_the_templates():
    with pytest.raises(ConfigError, match="template is missing.*shuzhiqihuang"):
        parse_serve_args("chat", BASE)


def test_named_adapters_are_checked_before_anything_loads(tmp_path):
    good = adapter_folder(tmp_path, "good", template="shuzhiqihuang")
    dora = adapter_folder(tmp_path, "dora", dora=True)
    prefix = adapter_folder(tmp_path, "prefix", peft_type="PREFIX_TUNING")
    other = adapter_folder(tmp_path, "other", template="qwen")
    with pytest.raises(ConfigError) as error:
        parse_serve_args("chat", [*BASE, "--template", "shuzhiqihuang", "--adapters",
                                  f"a={good},a={good},b={dora},c={prefix},d={tmp_path / 'missing'},oops"])
    text = str(error.value)
    assert "'a' is given twice" in text and "DoRA" in text and "PREFIX_TUNING" in text
    assert f"adapters d {tmp_path / 'missing'} does not exist" in text and "'oops': write name=path" in text
    with pytest.raises(ConfigError, match="adapters o: .* records template 'qwen'"):
        parse_serve_args("chat", [*BASE, "--template", "shuzhiqihuang", "--adapters", f"ok={good},o={other}"])


def test_the_api_needs_a_key_and_takes_them_from_flags_environment_and_file(tmp_path, monkeypatch):
    argv = [*BASE, "--template", "shuzhiqihuang"]
    monkeypatch.delenv("LLMTUNER_API_KEYS", raising=False)
    with pytest.raises(ConfigError, match="needs at least one key"):
        parse_serve_args("api", argv)
    key_file = tmp_path / "keys"
    key_file.write_text("# team keys\nkey-from-file\n\n", encoding="utf-8")
    monkeypatch.setenv("LLMTUNER_API_KEYS", "env-1,env-2")
    from llmtuner.hparams.validate_serve import collect_api_keys

    config = parse_serve_args("api", [*argv, "--api_key", "one", "--api_key", "two,three", "--api_key_file", str(key_file)])
    assert collect_api_keys(config.api.api_key, config.api.api_key_file) == [
        "one", "two", "three", "env-1", "env-2", "key-from-file"]
    assert config.api.host == "127.0.0.1"


def test_a_repeated_flag_that_is_not_repeatable_keeps_the_last_value_as_launchers_expect():
    config = parse_serve_args("chat", [*BASE, "--template", "shuzhiqihuang", "--max_new_tokens", "8", "--max_new_tokens", "16"])
    assert config.generating.max_new_tokens == 16


def test_infer_needs_one_source_and_an_output_file(tmp_path):
    with pytest.raises(ConfigError, match="exactly one source of prompts") as error:
        parse_serve_args("infer", [*BASE, "--template", "shuzhiqihuang"])
    assert "output_file is missing" in str(error.value)
    with pytest.raises(ConfigError, match="not an argument of `llmtuner chat`. Only `llmtuner infer` reads datasets"):
        parse_serve_args("chat", [*BASE, "--template", "shuzhiqihuang", "--eval_dataset", "x"])


def test_beam_search_and_bad_limits_are_refused():
    with pytest.raises(ConfigError) as error:
        parse_serve_args("chat", [*BASE, "--template", "shuzhiqihuang", "--num_beams", "4", "--max_concurrency", "0"])
    assert "num_beams 4" in str(error.value) and "max_concurrency must be at least 1" in str(error.value)
