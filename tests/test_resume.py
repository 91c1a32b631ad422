"""A run killed with SIGKILL in the middle of a checkpoint save and started again continues from its last
complete checkpoint and ends with the same losses as a run that was never interrupted (fp32, CPU)."""

import json
import re
import signal
import threading
import time

import pytest
from run_helpers import child_env, launch, logged_losses, sft_args, train, write_qa_dataset

from llmtuner.train.resume import last_complete_checkpoint, resolve_resume

STEPS, SAVE_EVERY, BATCH = 12, 3, 4
KILLED_IN = 6  # the save of checkpoint-6 is cut off; checkpoint-3 is the last complete one


def _samples(folder):
    return [tuple(json.loads(line)) for line in (folder / "rank0.jsonl").read_text().splitlines()]


def test_sigkill_during_a_checkpoint_save_then_restart_matches_the_uninterrupted_run(tmp_path, tiny_model_dir):
    data = write_qa_dataset(tmp_path / "data")
    uninterrupted, killed = tmp_path / "uninterrupted", tmp_path / "killed"
    common = {"max_steps": STEPS, "save_steps": SAVE_EVERY, "per_device_train_batch_size": BATCH}
    (tmp_path / "batches_uninterrupted").mkdir(), (tmp_path / "batches_resumed").mkdir()
    train(sft_args(data, uninterrupted, **common), PROBE_BATCH_DIR=str(tmp_path / "batches_uninterrupted"))

    # train_probe's PROBE_STALL_SAVE: the run stops inside the save of checkpoint-6, before trainer_state.json
    marker = tmp_path / "saving-started"
    process = launch(sft_args(data, killed, **common),
                     env=child_env(PROBE_STALL_SAVE=str(KILLED_IN), PROBE_STALL_MARKER=str(marker)))
    output: list[str] = []  # drained as it comes, so a full pipe cannot block the run before the save
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 600  # only against a hang: the run reaches step 6 in well under a minute
        while not marker.exists():
            assert process.poll() is None, f"the run ended before its save of step {KILLED_IN}:\n{''.join(output)[-4000:]}"
            assert time.monotonic() < deadline, f"no save of checkpoint-{KILLED_IN} started within 600 s"
            time.sleep(0.05)
        partial = killed / f"checkpoint-{KILLED_IN}"
        assert marker.read_text() == str(partial)
        # caught mid-save: the trainer has written the adapter and optimizer, not yet the trainer state
        assert (partial / "adapter_model.safetensors").is_file() and (partial / "optimizer.pt").is_file()
        assert not (partial / "trainer_state.json").exists()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run was not stopped by the kill"
    assert sorted(path.name for path in killed.glob("checkpoint-*")) == ["checkpoint-3", f"checkpoint-{KILLED_IN}"]
    assert not (partial / "trainer_state.json").exists()

    output = train(sft_args(data, killed, **common), PROBE_BATCH_DIR=str(tmp_path / "batches_resumed"))  # the same command again
    assert f"Resuming from {killed / 'checkpoint-3'} " in output
    # the cut-off checkpoint was set aside, kept as it was, and not loaded
    [aside] = [path for path in killed.iterdir() if path.name.startswith(f"checkpoint-{KILLED_IN}.")]
    assert re.fullmatch(rf"checkpoint-{KILLED_IN}\.incomplete-\d+", aside.name)
    assert (aside / "adapter_model.safetensors").is_file() and not (aside / "trainer_state.json").exists()
    # the resumed run started at step 4: its first batch is the uninterrupted run's fourth
    before, after = _samples(tmp_path / "batches_uninterrupted"), _samples(tmp_path / "batches_resumed")
    assert after[:BATCH] == before[3 * BATCH : 4 * BATCH]
    # and it saved checkpoint-6 again, complete this time
    assert json.loads((killed / f"checkpoint-{KILLED_IN}" / "trainer_state.json").read_text())["global_step"] == KILLED_IN
    expected, got = logged_losses(uninterrupted), logged_losses(killed)
    assert sorted(got) == sorted(expected) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert got[step] == pytest.approx(expected[step], abs=1e-4), step
    assert (killed / "adapter_model.safetensors").exists() and not (killed / ".saving").exists()


def _checkpoint(folder, step, complete=True):
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(b"weights")
    if complete:
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return path


def test_a_checkpoint_cut_off_while_saving_is_set_aside_not_resumed(tmp_path):
    good = _checkpoint(tmp_path, 6)
    _checkpoint(tmp_path, 9, complete=False)
    (_checkpoint(tmp_path, 12) / "trainer_state.json").write_text('{"global_st')  # killed mid-write
    assert last_complete_checkpoint(tmp_path) == good
    assert (tmp_path / "checkpoint-9").exists()  # looking alone moves nothing
    assert last_complete_checkpoint(tmp_path, set_aside=True) == good
    names = sorted(path.name for path in tmp_path.iterdir())
    assert len(names) == 3 and names[1] == "checkpoint-6"
    assert re.fullmatch(r"checkpoint-12\.incomplete-\d+", names[0]) and re.fullmatch(r"checkpoint-9\.incomplete-\d+", names[2])
    assert (tmp_path / names[0] / "adapter_model.safetensors").read_bytes() == b"weights"  # renamed, contents kept


class _Args:
    def __init__(self, output_dir, resume=None):
        self.output_dir, self.resume_from_checkpoint, self.do_train = str(output_dir), resume, True


def test_resolve_resume_refuses_a_folder_with_files_but_no_checkpoint(tmp_path):
    from llmtuner.extras.errors import ConfigError

    (tmp_path / "notes.txt").write_text("a colleague's results")
    with pytest.raises(ConfigError, match="overwrite_output_dir"):
        resolve_resume(_Args(tmp_path), overwrite_output_dir=False)
    assert resolve_resume(_Args(tmp_path), overwrite_output_dir=True) is None
    good = _checkpoint(tmp_path, 3)
    assert resolve_resume(_Args(tmp_path), overwrite_output_dir=False) == str(good)
    assert resolve_resume(_Args(tmp_path), overwrite_output_dir=True) is None  # overwrite = start from scratch
    assert resolve_resume(_Args(tmp_path, resume="elsewhere"), overwrite_output_dir=False) == "elsewhere"


def test_a_run_stopped_before_its_first_checkpoint_starts_again(tmp_path, monkeypatch):
    from llmtuner.extras.errors import ConfigError

    (tmp_path / "trainer_log.jsonl").write_text('{"step": 5, "loss": 3.2}\n')
    (tmp_path / "runs").mkdir()
    _checkpoint(tmp_path, 10, complete=False)  # killed while writing its first checkpoint
    monkeypatch.setenv("RANK", "1")  # another rank sees it before the main process sets it aside
    assert resolve_resume(_Args(tmp_path), overwrite_output_dir=False) is None
    assert (tmp_path / "checkpoint-10").exists()
    monkeypatch.setenv("RANK", "0")
    assert resolve_resume(_Args(tmp_path), overwrite_output_dir=False) is None
    assert sorted(p.name.split(".")[0] for p in tmp_path.iterdir()) == ["checkpoint-10", "runs", "trainer_log"]
    assert not (tmp_path / "checkpoint-10").exists()  # set aside, not deleted
    assert resolve_resume(_Args(tmp_path), overwrite_output_dir=False) is None  # and again after that
    (tmp_path / "adapter_model.safetensors").write_bytes(b"a finished run's model")
    with pytest.raises(ConfigError, match="holds no checkpoint"):
        resolve_resume(_Args(tmp_path), overwrite_output_dir=False)


def test_trainer_log_with_a_torn_last_line_is_truncated_not_fatal(tmp_path):
    from llmtuner.train.callbacks import _truncate_after

    log = tmp_path / "trainer_log.jsonl"
    log.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n{"step": 3, "lo', encoding="utf-8")
    _truncate_after(str(log), step=2)
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2]
