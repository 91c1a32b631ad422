"""One run per output folder: a second training, evaluation or export into a busy folder is refused before
anything loads, naming the holder; a lock left by a killed process is taken over; only rank 0 locks."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT
from run_helpers import StalledRun, child_env, cli, logged_losses, sft_args, write_qa_dataset

from llmtuner.extras.run_lock import LOCK_NAME, FolderBusyError, lock_path, run_lock


@pytest.fixture
def holder(tmp_path):
    """Start a process that holds run_lock(folder) until its stdin closes; yields (process, folder)."""
    started = []

    def start(folder, **options):
        code = textwrap.dedent(f"""
            import sys
            from llmtuner.extras.run_lock import run_lock
            with run_lock({str(folder)!r}, "training", **{options!r}):
                print("held", flush=True)
                sys.stdin.read()
        """)
        process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True)
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_busy_folder_is_refused_naming_the_holder_and_free_again_once_it_ends(tmp_path, holder):
    process = holder(tmp_path / "out")
    record = json.loads((tmp_path / "out" / LOCK_NAME).read_text(encoding="utf-8"))
    assert record["pid"] == process.pid and record["host"] == socket.gethostname() and record["run"] == "training"
    with pytest.raises(FolderBusyError) as busy, run_lock(tmp_path / "out", "evaluation"):
        pass
    message = str(busy.value)
    for part in (f"output_dir {tmp_path / 'out'} is in use by another run", f"training pid {process.pid}",
                 f"on host {socket.gethostname()}", f"started {record['started']}", "command: ", "choose another output_dir"):
        assert part in message
    process.stdin.close()  # the holder ends: its lock file goes with it
    process.wait(timeout=60)
    assert not (tmp_path / "out" / LOCK_NAME).exists()
    with run_lock(tmp_path / "out", "evaluation") as path:
        assert json.loads(path.read_text(encoding="utf-8"))["pid"] == os.getpid()
    assert list((tmp_path / "out").iterdir()) == []


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_warning(tmp_path, holder, warnings_logged):
    process = holder(tmp_path / "out")
    process.kill()  # SIGKILL: no clean-up; the OS drops the flock, the file stays
    process.wait()
    assert (tmp_path / "out" / LOCK_NAME).exists()
    with run_lock(tmp_path / "out", "training"):
        [warning] = warnings_logged
        assert f"taking over the lock left by training pid {process.pid} on host {socket.gethostname()}" in warning
    # a lock file naming a pid that is gone, written by hand or by another tool version
    path = tmp_path / "other" / LOCK_NAME
    path.parent.mkdir()
    path.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "started": "yesterday"}))
    with run_lock(path.parent, "training"):
        assert "taking over" in warnings_logged[-1]
    assert not path.exists()


def test_a_free_lock_from_another_host_is_refused_with_the_fix(tmp_path):
    path = tmp_path / LOCK_NAME
    path.write_text(json.dumps({"pid": 4242, "host": "gpu-node-17", "run": "training", "started": "2025-01-02 03:04:05",
                                "command": "llmtuner train run.yaml"}))
    with pytest.raises(FolderBusyError, match=r"training pid 4242 on host gpu-node-17, .*cannot be checked from this host.*"
                                              rf"delete {path}"), run_lock(tmp_path, "training"):
        pass
    assert json.loads(path.read_text())["host"] == "gpu-node-17"  # left as it was


def test_only_global_rank_0_locks(tmp_path, holder, monkeypatch):
    holder(tmp_path)
    monkeypatch.setenv("RANK", "1")  # another rank of the holder's launch: not refused by its own rank 0
    with run_lock(tmp_path, "training") as path:
        assert path is None
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(FolderBusyError), run_lock(tmp_path, "training"):
        pass


def test_export_locks_a_file_beside_export_dir(tmp_path, holder):
    """export_dir is replaced whole when a release is published, so its lock cannot live inside it."""
    assert lock_path(tmp_path / "release", beside=True) == tmp_path / ".release.llmtuner.lock"
    holder(tmp_path / "release", key="export_dir", beside=True)
    assert not (tmp_path / "release").exists()
    busy = pytest.raises(FolderBusyError, match=f"export_dir {tmp_path / 'release'} is in use")
    with busy, run_lock(tmp_path / "release", "export", key="export_dir", beside=True):
        pass


def _fail_if_called(*args, **kwargs):
    raise AssertionError("loading started although the folder is busy")


def test_training_evaluation_and_export_are_refused_before_anything_loads(tmp_path, monkeypatch):
    from llmtuner.eval import evaluator
    from llmtuner.export import workflow
    from llmtuner.hparams import parse_eval_args, parse_export_args, parse_train_args
    from llmtuner.train import training_arguments
    from llmtuner.train.tuner import run_training

    monkeypatch.setattr(training_arguments, "build_training_arguments", _fail_if_called)
    monkeypatch.setattr(evaluator, "TASKS", {"qa": _fail_if_called})
    monkeypatch.setattr(workflow, "plan_export", _fail_if_called)
    out = tmp_path / "out"
    with run_lock(out, "training"):  # held by this process: another open file of it is still refused
        with pytest.raises(FolderBusyError, match=f"training pid {os.getpid()}"):
            run_training(parse_train_args(sft_args(tmp_path, out)))
        with pytest.raises(FolderBusyError, match="in use by another run"):
            evaluator.run_evaluation(parse_eval_args(["--model_name_or_path", "embedded", "--template", "shuzhiqihuang",
                                                      "--eval_dataset", "x", "--task", "qa", "--output_dir", str(out)]))
    with run_lock(out, "export", key="export_dir", beside=True), pytest.raises(FolderBusyError, match="export_dir"):
        workflow.run_export(parse_export_args(["--model_name_or_path", "embedded", "--template", "shuzhiqihuang",
                                               "--export_dir", str(out)]))


def test_a_second_run_into_a_busy_folder_exits_2_and_the_first_finishes_untouched(tmp_path, tiny_model_dir):
    data, out = write_qa_dataset(tmp_path / "data"), tmp_path / "out"
    argv = sft_args(data, out, max_steps=4, save_steps=2)
    first = StalledRun(argv, 2, tmp_path / "saving", release=tmp_path / "go")  # busy inside its save of checkpoint-2
    try:
        second = cli("train", sft_args(data, out, max_steps=4, save_steps=2, learning_rate=1e-4))
        assert second.returncode == 2, second.stderr[-4000:]
        error = second.stderr
        assert f"output_dir {out} is in use by another run: training pid {first.process.pid} on host" in error
        assert "train_probe.py" in error and "choose another output_dir" in error  # the holder's command, the fix
        assert "Traceback" not in error and "Loading weights" not in error  # refused before anything loaded
        evaluation = cli("eval", ["--model_name_or_path", "embedded", "--template", "shuzhiqihuang", "--eval_dataset",
                                  "qa", "--dataset_dir", str(data), "--task", "ppl", "--output_dir", str(out)])
        assert evaluation.returncode == 2 and f"training pid {first.process.pid}" in evaluation.stderr
    finally:
        output = first.finish()
    assert "Resuming" not in output and "taking over" not in output
    assert json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2
    assert sorted(logged_losses(out)) == [1, 2, 3, 4] and (out / "adapter_model.safetensors").is_file()
    assert not (out / LOCK_NAME).exists() and not list(out.glob("*.tmp-*"))


def test_an_output_dir_that_is_a_file_is_a_clean_error(tmp_path):
    from llmtuner.extras.errors import UserError
    from llmtuner.extras.run_lock import run_lock

    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    with pytest.raises(UserError, match="notes.txt is a file"), run_lock(taken / "run", "training"):
        pass
    assert taken.read_text() == "mine"


def _llmtuner() -> list[str]:
    """The installed `llmtuner` console script beside this Python, else `python -m llmtuner.cli`."""
    script = Path(sys.executable).with_name("llmtuner")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "llmtuner.cli"]


def test_two_real_cli_trainings_into_one_folder_the_second_is_refused_and_the_first_finishes(tmp_path, tiny_model_dir):
    """Both are `llmtuner train` processes. The first is held busy inside its save of checkpoint-2 (tests/cli_probe.py
    runs llmtuner.cli.main with train_probe's stall), so the second meets it mid-run, deterministically."""
    data, out = write_qa_dataset(tmp_path / "data"), tmp_path / "out"
    marker, release = tmp_path / "saving", tmp_path / "go"
    env = child_env(PROBE_STALL_SAVE="2", PROBE_STALL_MARKER=str(marker), PROBE_STALL_RELEASE=str(release))
    first = subprocess.Popen([sys.executable, str(ROOT / "tests" / "cli_probe.py"), "train", *sft_args(data, out, max_steps=4,
                              save_steps=2)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(first.stdout), daemon=True)  # a full pipe would block it
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert first.poll() is None, f"the first run ended before its save of step 2:\n{''.join(output)[-4000:]}"
            assert time.monotonic() < deadline, "the first run did not reach its save of checkpoint-2 within 120 s"
            time.sleep(0.05)
        before = sorted(path.name for path in out.iterdir())
        started = time.monotonic()
        second = subprocess.run([*_llmtuner(), "train", *sft_args(data, out, max_steps=8, save_steps=4)], cwd=ROOT,
                                env=child_env(), capture_output=True, text=True, timeout=60)
        refused_in = time.monotonic() - started
        assert second.returncode == 2, second.stderr[-4000:]
        [error] = [line for line in second.stderr.splitlines() if line.startswith("llmtuner train: error:")]
        assert f"output_dir {out} is in use by another run: training pid {first.pid} on host {socket.gethostname()}" in error
        assert "cli_probe.py train" in error and "choose another output_dir" in error  # the holder's command, the fix
        assert "Traceback" not in second.stderr and "Loading weights" not in second.stderr  # refused before loading
        assert sorted(path.name for path in out.iterdir()) == before  # and it wrote nothing there
        assert first.poll() is None  # the first run is still in its save, untouched
    finally:
        release.write_text("go", encoding="utf-8")
        try:
            first.wait(timeout=120)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
            reader.join(timeout=60)
    assert first.returncode == 0, "".join(output)[-6000:]
    text = "".join(output)
    assert "Resuming" not in text and "taking over" not in text
    for step in (2, 4):
        assert json.loads((out / f"checkpoint-{step}" / "trainer_state.json").read_text())["global_step"] == step
    assert sorted(logged_losses(out)) == [1, 2, 3, 4] and (out / "adapter_model.safetensors").is_file()
    assert not (out / LOCK_NAME).exists() and not list(out.glob("*.tmp-*"))
    assert refused_in < 30, f"the refusal took {refused_in:.0f} s"
