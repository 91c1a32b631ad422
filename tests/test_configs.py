"""Every shipped config parses and passes validation, so the examples cannot drift from the code."""

import json
from pathlib import Path

import pytest
from conftest import ROOT

from llmtuner.hparams import parse_train_args

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_config_is_valid(config: Path):
    args = parse_train_args([str(config)])
    assert args.model.model_name_or_path and args.training["output_dir"]


@pytest.mark.parametrize("path", [ROOT / "deepspeed_config.json", *sorted((ROOT / "configs").glob("ds_*.json"))], ids=lambda p: p.name)
def test_deepspeed_configs_let_the_trainer_decide_precision(path: Path):
    config = json.loads(path.read_text())
    # precision and batch sizes follow the training arguments ("auto"), never hard-coded
    assert config["bf16"]["enabled"] == "auto" and config["fp16"]["enabled"] == "auto"
    assert config["train_micro_batch_size_per_gpu"] == "auto"
    if config["zero_optimization"]["stage"] == 3:
        assert config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
