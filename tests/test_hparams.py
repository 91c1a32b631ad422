"""Parser and validator: files + flags, typo suggestions, invalid combinations, fast help."""

import subprocess
import sys
import time

import pytest
from conftest import ROOT

from llmtuner.extras.errors import ConfigError
from llmtuner.hparams import format_train_help, parse_train_args
from llmtuner.hparams.train_parser import TRAIN_GROUPS
from llmtuner.hparams.training_fields import training_field_docs

BASE = ["--model_name_or_path", "m", "--template", "qwen", "--dataset", "d", "--output_dir", "o"]


def test_yaml_file_then_flags_override(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "model_name_or_path: /models/qwen\nstage: sft\ntemplate: qwen\ndataset: a,b\noutput_dir: out\n"
        "learning_rate: 1e-4\nlora_rank: 16\npacking: true\n",
        encoding="utf-8",
    )
    args = parse_train_args([str(config), "--lora_rank", "32", "--packing=false", "--bf16"])
    assert args.model.model_name_or_path == "/models/qwen"
    assert args.finetuning.lora_rank == 32 and args.finetuning.lora_alpha == 64  # alpha follows rank
    assert args.data.packing is False
    assert args.training["learning_rate"] == pytest.approx(1e-4)  # YAML reads 1e-4 as a string; coerced
    assert args.training["bf16"] is True
    assert args.training["report_to"] == "none"  # nothing is sent anywhere unless asked


def test_config_file_after_deepspeed_local_rank(tmp_path):
    """`deepspeed src/train_bash.py CONFIG.yaml` runs `train_bash.py --local_rank=0 CONFIG.yaml`."""
    config = tmp_path / "run.yaml"
    config.write_text("model_name_or_path: m\ntemplate: qwen\ndataset: d\noutput_dir: o\nlora_rank: 16\n", encoding="utf-8")
    args = parse_train_args(["--local_rank=1", str(config), "--lora_rank", "4"])
    assert args.model.model_name_or_path == "m" and args.finetuning.lora_rank == 4
    assert int(args.training["local_rank"]) == 1  # for TrainingArguments, as the launcher meant
    with pytest.raises(ConfigError, match="Unexpected argument 'extra': give at most one config file"):
        parse_train_args([str(config), "extra"])
    with pytest.raises(ConfigError, match="Unexpected argument 'second.yaml'"):
        parse_train_args([str(config), "second.yaml"])


def test_json_config(tmp_path):
    config = tmp_path / "run.json"
    config.write_text('{"model_name_or_path": "m", "template": "qwen", "dataset": "d", "output_dir": "o", "cutoff_len": 512}')
    assert parse_train_args([str(config)]).data.cutoff_len == 512


def test_unknown_key_suggests_close_names(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model_name_or_path: m\nlearning_rat: 1.0e-4\n")
    with pytest.raises(ConfigError) as error:
        parse_train_args([str(config)])
    message = str(error.value)
    assert "learning_rat" in message and str(config) in message and "`learning_rate`" in message


def test_renamed_transformers4_key_says_new_name():
    with pytest.raises(ConfigError, match="eval_strategy"):
        parse_train_args(BASE + ["--evaluation_strategy", "steps"])


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["--stage", "ppo"], "Valid choices: pt, sft"),
        (["--finetuning_type", "adapter"], "Valid choices: lora, qlora, freeze, full"),
        (["--quantization_bit", "4", "--finetuning_type", "full"], "quantized weights cannot be trained"),
        (["--stage", "pt", "--predict_with_generate"], "predict_with_generate only works with stage sft"),
        (["--streaming"], "set `max_steps`"),
        (["--bf16", "--fp16"], "choose one"),
        (["--train_on_prompt", "--mask_history"], "contradict"),
        (["--lora_rank", "abc"], "expected an integer"),
        (["--packing", "maybe"], "expected true or false"),
        (["--mix_strategy", "interleave_under", "--interleave_probs", "0.5,0.5"], "one per dataset"),
        (["--do_eval"], "do_eval needs evaluation data"),
        (["--use_dora", "--finetuning_type", "full"], "only apply to LoRA"),
    ],
)
def test_invalid_combinations(flags, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_train_args(BASE + flags)


def test_all_problems_reported_at_once():
    with pytest.raises(ConfigError) as error:
        parse_train_args(["--stage", "sft"])
    message = str(error.value)
    assert "model_name_or_path is missing" in message and "needs a chat template" in message and "No training data" in message


def test_qlora_means_lora_on_4bit():
    args = parse_train_args(BASE + ["--finetuning_type", "qlora"])
    assert args.finetuning.finetuning_type == "lora" and args.model.quantization_bit == 4


def test_preview_needs_no_output_dir():
    args = parse_train_args(["--model_name_or_path", "m", "--template", "qwen", "--dataset", "d"], command="preview")
    assert args.data.dataset == ["d"]


def test_missing_and_bad_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        parse_train_args([str(tmp_path / "nope.yaml")])
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"(?s)not valid YAML.*line 1"):
        parse_train_args([str(bad)])


def test_no_field_is_defined_twice():
    ours = [name for cls in TRAIN_GROUPS for name in cls.__dataclass_fields__]
    assert len(ours) == len(set(ours))
    assert not set(ours) & set(training_field_docs()), "a field shadows a transformers training argument"


def test_every_field_has_help():
    for cls in TRAIN_GROUPS:
        for name, item in cls.__dataclass_fields__.items():
            assert item.metadata.get("help"), f"{cls.__name__}.{name} has no help text"
    text = format_train_help()
    assert "--lora_rank" in text and "--learning_rate" in text and "--gradient_checkpointing" in text


def test_training_fields_match_transformers():
    import dataclasses

    from transformers import Seq2SeqTrainingArguments

    real = {f.name for f in dataclasses.fields(Seq2SeqTrainingArguments) if f.init}
    assert set(training_field_docs()) == real


def test_build_training_arguments_coerces_types():
    from llmtuner.train.training_arguments import build_training_arguments

    args = parse_train_args(BASE + ["--num_train_epochs", "2", "--per_device_train_batch_size", "4", "--save_steps", "50"])
    training = build_training_arguments(args)
    assert training.num_train_epochs == 2.0 and training.per_device_train_batch_size == 4
    assert training.gradient_checkpointing is True and training.report_to in ([], ["none"], "none")
    several = build_training_arguments(parse_train_args(BASE + ["--report_to", "wandb, tensorboard"]))
    assert several.report_to == ["wandb", "tensorboard"]


def test_cli_errors_are_fast_and_without_traceback():
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "llmtuner.cli", "train", "--model_name_or_path", "m", "--templte", "qwen"],
        capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - start
    assert result.returncode == 2
    assert "Did you mean `template`" in result.stderr and "Traceback" not in result.stderr
    assert elapsed < 5, f"argument errors must not import torch/transformers ({elapsed:.1f}s)"


def test_train_command_trains_unless_told_otherwise():
    assert parse_train_args(BASE).training["do_train"] is True  # transformers' own default is False: silent no-op
    evaluate_only = parse_train_args([*BASE, "--do_eval", "--val_size", "0.1", "--do_train", "false"])
    assert evaluate_only.training["do_train"] is False
    with pytest.raises(ConfigError, match="nothing to run"):
        parse_train_args([*BASE, "--do_train", "false"])


def test_gguf_model_path_becomes_folder_and_file(tmp_path):
    import importlib.util

    from conftest import skip_or_fail

    if importlib.util.find_spec("gguf") is None:
        skip_or_fail("gguf is not installed (requirements.txt installs it)")
    (tmp_path / "model.Q4_K_M.gguf").write_bytes(b"")
    args = parse_train_args([*BASE, "--model_name_or_path", str(tmp_path / "model.Q4_K_M.gguf")])
    assert (args.model.model_name_or_path, args.model.gguf_file) == (str(tmp_path), "model.Q4_K_M.gguf")
    with pytest.raises(ConfigError, match=r"'other.gguf' is not in .*GGUF files there: model.Q4_K_M.gguf"):
        parse_train_args([*BASE, "--model_name_or_path", str(tmp_path), "--gguf_file", "other.gguf"])
    with pytest.raises(ConfigError, match="quantization_bit with a GGUF base"):
        parse_train_args([*BASE, "--model_name_or_path", str(tmp_path / "model.Q4_K_M.gguf"), "--finetuning_type", "qlora"])


def test_packing_with_remote_model_code_is_refused(tmp_path):
    """ChatGLM3 / Baichuan2 / InternLM2 run their own modelling code, which ignores packed position_ids."""
    (tmp_path / "config.json").write_text('{"model_type": "chatglm", "auto_map": {"AutoModelForCausalLM": '
                                          '"modeling_chatglm.ChatGLMForConditionalGeneration"}}')
    argv = ["--model_name_or_path", str(tmp_path), "--template", "chatglm3", "--dataset", "d", "--output_dir", "o"]
    with pytest.raises(ConfigError, match="packing with the model's own code"):
        parse_train_args([*argv, "--trust_remote_code", "--packing"])
    assert parse_train_args([*argv, "--trust_remote_code", "--packing", "false"]).data.packing is False
    assert parse_train_args([*argv, "--packing"]).data.packing  # without remote code transformers' own class runs


@pytest.mark.parametrize(("flags", "message"), [
    (["--fp16"], "fp16 mixed precision needs a CUDA GPU"),
    (["--bf16", "--deepspeed", "deepspeed_config.json"], "bf16 with DeepSpeed needs a GPU"),
    (["--attn_implementation", "flash_attention_2"], "flash_attention_2 needs a CUDA GPU and the flash-attn package"),
])
def test_hardware_checks_on_a_machine_without_cuda(monkeypatch, flags, message):
    import torch

    from llmtuner.hparams import validate_hardware

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=message):
        validate_hardware(parse_train_args([*BASE, *flags]))


def test_bf16_without_deepspeed_runs_on_the_cpu_and_quantization_needs_bitsandbytes(monkeypatch):
    import importlib.util

    import torch

    from llmtuner.hparams import validate_hardware
    from llmtuner.train.training_arguments import build_training_arguments

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = parse_train_args([*BASE, "--bf16"])
    validate_hardware(args)
    assert "use_cpu" not in args.training  # checking and reading change nothing
    assert build_training_arguments(args).use_cpu is True  # transformers accepts bf16 on CPU only when use_cpu says so
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real_find_spec(name, *a))
    with pytest.raises(ConfigError, match="quantization_bit needs bitsandbytes"):
        validate_hardware(parse_train_args([*BASE, "--finetuning_type", "qlora"]))


def test_zero3_with_half_precision_weights_needs_mixed_precision(monkeypatch):
    """Under ZeRO-3 trainable weights stay in the loaded dtype; without bf16/fp16 nothing keeps fp32 master weights."""
    import torch

    from llmtuner.hparams import validate_hardware

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU machine, as far as the check can tell
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    zero3 = ["--deepspeed", str(ROOT / "configs" / "ds_z3.json")]
    with pytest.raises(ConfigError, match="ZeRO-3 with auto weights .* Set bf16: true"):
        validate_hardware(parse_train_args([*BASE, *zero3]))
    validate_hardware(parse_train_args([*BASE, *zero3, "--bf16"]))
    validate_hardware(parse_train_args([*BASE, *zero3, "--dtype", "float32"]))
    validate_hardware(parse_train_args([*BASE, "--deepspeed", str(ROOT / "deepspeed_config.json")]))  # ZeRO-2 upcasts


def test_output_dir_in_the_base_model_folder_is_refused(tmp_path):
    from llmtuner.extras.constants import DEFAULT_TINY_MODEL_DIR, PROJECT_ROOT

    base = tmp_path / "Qwen2.5-7B"
    base.mkdir()
    flags = ["--template", "qwen", "--dataset", "d", "--model_name_or_path"]
    with pytest.raises(ConfigError, match=r"output_dir .*Qwen2\.5-7B is the base model's folder: .*Choose an output_dir outside"):
        parse_train_args([*flags, str(base), "--output_dir", str(base)])
    with pytest.raises(ConfigError, match=r"is inside the base model's folder .*Qwen2\.5-7B"):
        parse_train_args([*flags, str(base) + "/", "--output_dir", str(base / "saves" / "lora")])
    with pytest.raises(ConfigError, match="inside the base model's folder"):  # `embedded`: the tiny model's folder
        parse_train_args([*flags, "embedded", "--output_dir", str(PROJECT_ROOT / DEFAULT_TINY_MODEL_DIR / "out")])
    parse_train_args([*flags, str(base), "--output_dir", str(tmp_path / "Qwen2.5-7B-lora")])  # a sibling is fine
    parse_train_args([*flags, "Qwen/Qwen2.5-7B", "--output_dir", "Qwen/Qwen2.5-7B"])  # a hub id is no folder here
    parse_train_args([*flags, str(base), "--output_dir", str(base)], command="preview")  # preview writes nothing


@pytest.mark.parametrize("key, value", [("per_device_train_batch_size", "0"), ("learning_rate", "0"), ("num_train_epochs", "0"),
                                        ("gradient_accumulation_steps", "0"), ("max_steps", "0"), ("save_steps", "0"),
                                        ("logging_steps", "-1"), ("warmup_steps", "-5"), ("max_steps", "-3")])
def test_non_positive_numbers_are_refused_before_loading(key, value, tmp_path):
    from llmtuner.hparams import parse_train_args

    argv = ["--model_name_or_path", "embedded", "--stage", "sft", "--template", "shuzhiqihuang", "--dataset", "medical_sft_sample",
            "--output_dir", str(tmp_path / "out"), f"--{key}", value]
    with pytest.raises(ConfigError, match=key):
        parse_train_args(argv)
    parse_train_args(argv[:-2])  # the same config with the default value is accepted


def test_strict_data_is_a_training_switch_that_eval_refuses(tmp_path):
    from llmtuner.hparams import parse_eval_args

    assert parse_train_args([*BASE, "--strict_data", "true"]).data.strict_data is True
    assert parse_train_args(BASE).data.strict_data is False
    with pytest.raises(ConfigError, match=r"`strict_data` \(on the command line\) is not an argument of `llmtuner eval`\. "
                                          r"It only affects training data"):
        parse_eval_args(["--model_name_or_path", "m", "--template", "qwen", "--eval_dataset", "a",
                         "--output_dir", str(tmp_path), "--strict_data", "true"])
