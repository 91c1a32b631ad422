"""A run killed with SIGKILL and started again continues from its last complete checkpoint and
ends with the same losses as a run that was never interrupted (fp32, CPU)."""

import json
import signal
import time

import pytest
from run_helpers import child_env, launch, logged_losses, sft_args, train, write_qa_dataset

from llmtuner.train.resume import last_complete_checkpoint, resolve_resume

STEPS, SAVE_EVERY = 12, 3


def test_sigkill_then_restart_matches_the_uninterrupted_run(tmp_path, tiny_model_dir):
    data = write_qa_dataset(tmp_path / "data")
    uninterrupted, killed = tmp_path / "uninterrupted", tmp_path / "killed"
    common = {"max_steps": STEPS, "save_steps": SAVE_EVERY}
    train(sft_args(data, uninterrupted, **common))

    process = launch(sft_args(data, killed, **common), env=child_env(PROBE_STEP_DELAY="0.3"))
    deadline = time.monotonic() + 300
    while not (killed / "checkpoint-6" / "trainer_state.json").exists():
        assert process.poll() is None, f"the run ended before it could be killed:\n{process.stdout.read()[-4000:]}"
        assert time.monotonic() < deadline, "no checkpoint-6 within 300 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert not (killed / "checkpoint-12").exists(), "the run finished before the kill"

    output = train(sft_args(data, killed, **common))  # the same command again
    assert "Resuming from" in output
    expected, got = logged_losses(uninterrupted), logged_losses(killed)
    assert sorted(got) == list(range(1, STEPS + 1))
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
    assert names[0] == "checkpoint-12.incomplete-" + names[0].rsplit("-", 1)[1]
    assert [name.split(".")[0] for name in names] == ["checkpoint-12", "checkpoint-6", "checkpoint-9"]
    assert (tmp_path / "checkpoint-6").exists() and not (tmp_path / "checkpoint-9").exists()


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
