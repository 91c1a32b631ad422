"""Helpers for tests that train in child processes: a small dataset, the launch, and reading the log."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "train_probe.py"


def write_qa_dataset(folder: Path, samples: int = 40) -> Path:
    """`samples` distinct alpaca rows of varying length, registered as dataset "qa"."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"instruction": f"第{i}位患者头痛{i % 7 + 1}天，伴恶寒发热，怎么办？",
         "output": "辨证为风寒表证，可用荆防败毒散加减；同时监测体温，必要时查血常规。" * (1 + i % 3)}
        for i in range(samples)
    ]
    (folder / "qa.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (folder / "dataset_info.json").write_text(json.dumps({"qa": {"file_name": "qa.json"}}), encoding="utf-8")
    return folder


def sft_args(dataset_dir: Path, output_dir: Path, **overrides) -> list[str]:
    settings = {
        "model_name_or_path": "embedded", "stage": "sft", "finetuning_type": "lora", "template": "shuzhiqihuang",
        "dataset": "qa", "dataset_dir": str(dataset_dir), "cutoff_len": 128, "output_dir": str(output_dir),
        "do_train": True, "per_device_train_batch_size": 4, "max_steps": 4, "logging_steps": 1,
        "learning_rate": 1e-3, "seed": 42, "report_to": "none", "plot_loss": False, "dataloader_num_workers": 0,
    }
    settings.update(overrides)
    argv: list[str] = []
    for key, value in settings.items():
        argv += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return argv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    env.pop("RANK", None), env.pop("LOCAL_RANK", None), env.pop("WORLD_SIZE", None)
    env.update(extra)
    return env


def launch(argv: list[str], processes: int = 1, env: dict[str, str] | None = None) -> subprocess.Popen:
    command = [sys.executable]
    if processes > 1:
        command += ["-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_port", str(free_port())]
    command += [str(PROBE), *argv]
    return subprocess.Popen(command, cwd=ROOT, env=env or child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def train(argv: list[str], processes: int = 1, timeout: float = 900, **env: str) -> str:
    """Run training to the end; returns its output, or fails the test with the output's tail."""
    process = launch(argv, processes, child_env(**env))
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"training exited with {process.returncode}:\n{output[-6000:]}"
    return output


def logged_losses(output_dir: Path) -> dict[int, float]:
    """step -> training loss, from trainer_log.jsonl."""
    records = [json.loads(line) for line in (output_dir / "trainer_log.jsonl").read_text().splitlines() if line.strip()]
    return {record["step"]: record["loss"] for record in records if "loss" in record}
