"""Nothing leaves the machine unasked: a training, an evaluation and an export with the network blocked.

The children run with a socket guard (tests/doubles/socket_guard/sitecustomize.py) that records every
outbound connection or lookup, and WITHOUT HF_HUB_OFFLINE, so only our own code keeps the hub out of it.
"""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from run_helpers import sft_args, write_qa_dataset

GUARD = ROOT / "tests" / "doubles" / "socket_guard"


def _run(argv, log, tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")}
    env.update(PYTHONPATH=os.pathsep.join([str(GUARD), str(ROOT / "src")]), SOCKET_GUARD_LOG=str(log), OMP_NUM_THREADS="1",
               TOKENIZERS_PARALLELISM="false", HF_HOME=str(tmp_path / "hf_home"))  # an empty cache: nothing to fall back on
    env.pop("WANDB_MODE", None)
    result = subprocess.run([sys.executable, "-m", "llmtuner.cli", *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_train_eval_export_attempt_no_outbound_connection(tmp_path, tiny_model_dir):
    log = tmp_path / "attempts.log"
    log.write_text("")
    data = write_qa_dataset(tmp_path / "data", samples=8)
    _run(["train", *sft_args(data, tmp_path / "adapter", max_steps=2, report_to="tensorboard")], log, tmp_path)
    _run(["eval", "--model_name_or_path", "embedded", "--adapter_name_or_path", str(tmp_path / "adapter"), "--template",
          "shuzhiqihuang", "--eval_dataset", "qa", "--dataset_dir", str(data), "--task", "qa", "--output_dir",
          str(tmp_path / "eval"), "--max_samples", "2", "--max_new_tokens", "4"], log, tmp_path)
    _run(["export", "--model_name_or_path", "embedded", "--adapter_name_or_path", str(tmp_path / "adapter"),
          "--export_dir", str(tmp_path / "release")], log, tmp_path)
    assert (tmp_path / "release" / "config.json").is_file()
    assert log.read_text() == ""  # no connection or lookup was even attempted


def test_uploads_need_allow_upload_and_tokens_are_not_recorded(tmp_path):
    from llmtuner.extras.errors import ConfigError
    from llmtuner.hparams import parse_train_args

    data = write_qa_dataset(tmp_path / "data", samples=8)
    with pytest.raises(ConfigError, match="report_to mlflow sends metrics"):
        parse_train_args(sft_args(data, tmp_path / "o", report_to="mlflow"))
    with pytest.raises(ConfigError, match="push_to_hub uploads"):
        parse_train_args(sft_args(data, tmp_path / "o", push_to_hub=True))
    config = parse_train_args(sft_args(data, tmp_path / "o", report_to="mlflow", allow_upload=True, hub_token="hf_secret123"))
    from llmtuner.train.common import save_run_record

    save_run_record(config, str(tmp_path))
    record = (tmp_path / "llmtuner_args.json").read_text(encoding="utf-8")
    assert "hf_secret123" not in record and "hub_token" not in json.loads(record)["training"]
