"""Helpers for tests that train in child processes: a small dataset, the launch, and reading the log."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
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


class StalledRun:
    """A training stopped inside its save of checkpoint-`step` (train_probe's PROBE_STALL_SAVE), its output
    drained as it comes (a full pipe would block the run before the save). With `release`, creating that
    file lets the run go on (PROBE_STALL_RELEASE)."""

    def __init__(self, argv: list[str], step: int, marker: Path, release: Path | None = None) -> None:
        extra = {"PROBE_STALL_SAVE": str(step), "PROBE_STALL_MARKER": str(marker)}
        if release is not None:
            extra["PROBE_STALL_RELEASE"] = str(release)
        self.marker, self.release, self.output = marker, release, []
        self.process = launch(argv, env=child_env(**extra))
        self.reader = threading.Thread(target=lambda: self.output.extend(self.process.stdout), daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 600  # only against a hang: the tiny model reaches its save in well under a minute
        while not marker.exists():
            if self.process.poll() is not None:
                self.reader.join(timeout=60)
                raise AssertionError(f"the run ended before its save of step {step}:\n{self.text()[-4000:]}")
            assert time.monotonic() < deadline, f"no save of checkpoint-{step} started within 600 s"
            time.sleep(0.05)

    def text(self) -> str:
        return "".join(self.output)

    def kill(self) -> str:
        """SIGKILL, mid-save; returns the output."""
        self.process.send_signal(signal.SIGKILL)
        return self._wait(-signal.SIGKILL)

    def finish(self, timeout: float = 600) -> str:
        """Let the run go on (the release file) and wait for it to end well; returns the output."""
        assert self.release is not None, "no release file was given"
        self.release.write_text("go", encoding="utf-8")
        return self._wait(0, timeout)

    def _wait(self, returncode: int, timeout: float = 120) -> str:
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.reader.join(timeout=60)
        assert self.process.returncode == returncode, f"exited with {self.process.returncode}:\n{self.text()[-6000:]}"
        return self.text()


def cli(command: str, argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    """`llmtuner COMMAND argv` in a child process, as a user runs it (UserError -> message, exit code 2)."""
    code = "import sys; from llmtuner.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, command, *argv], cwd=ROOT, env=child_env(), capture_output=True,
                          text=True, timeout=timeout)
