"""A run killed with SIGKILL in the middle of a checkpoint save and started again continues from its last
complete checkpoint and ends with the same losses as a run that was never interrupted (fp32, CPU)."""

import json
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from run_helpers import StalledRun, child_env, cli, launch, logged_losses, sft_args, train, write_qa_dataset

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
    # the cut-off checkpoint was set aside (out of transformers' checkpoint-* glob), kept as it was, and not loaded
    [aside] = [path for path in killed.iterdir() if path.name.startswith(f"incomplete-checkpoint-{KILLED_IN}-")]
    assert re.fullmatch(rf"incomplete-checkpoint-{KILLED_IN}-\d+", aside.name)
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
    assert len(names) == 3 and names[0] == "checkpoint-6"
    assert re.fullmatch(r"incomplete-checkpoint-12-\d+", names[1]) and re.fullmatch(r"incomplete-checkpoint-9-\d+", names[2])
    assert (tmp_path / names[1] / "adapter_model.safetensors").read_bytes() == b"weights"  # renamed, contents kept
    assert [path.name for path in tmp_path.glob("checkpoint-*")] == ["checkpoint-6"]  # what checkpoint rotation sees


def test_checkpoints_set_aside_by_earlier_versions_are_moved_out_of_the_rotation_glob(tmp_path):
    good = _checkpoint(tmp_path, 4)
    old = tmp_path / "checkpoint-6.incomplete-1700000000"
    old.mkdir()
    (old / "optimizer.pt").write_bytes(b"state")
    assert last_complete_checkpoint(tmp_path, set_aside=True) == good
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoint-4", "incomplete-checkpoint-6-1700000000"]
    assert (tmp_path / "incomplete-checkpoint-6-1700000000" / "optimizer.pt").read_bytes() == b"state"


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
    assert sorted(p.name.split(".")[0].rsplit("-", 1)[0] for p in tmp_path.iterdir()) == [
        "incomplete-checkpoint-10", "runs", "trainer_log"]
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


@pytest.mark.parametrize("limit", [1, 2])
def test_two_kills_during_saves_with_save_total_limit_keep_a_complete_checkpoint(tmp_path, tiny_model_dir, limit):
    """Incomplete checkpoints set aside must not take part in checkpoint rotation: if transformers' `checkpoint-*`
    glob saw them, save_total_limit would count them (or keep one as the newest) and delete complete ones."""
    data, out = write_qa_dataset(tmp_path / "data"), tmp_path / "out"
    argv = sft_args(data, out, max_steps=8, save_steps=2, save_total_limit=limit)

    StalledRun(argv, 4, tmp_path / "first-kill").kill()  # checkpoint-2 complete, checkpoint-4 cut off
    assert last_complete_checkpoint(out) == out / "checkpoint-2"

    second = StalledRun(argv, 6, tmp_path / "second-kill")  # resumes from 2, saves 4 (rotating), cut off in 6
    assert f"Resuming from {out / 'checkpoint-2'} " in second.text()
    assert "taking over the lock left by training pid" in second.text()  # the killed run's lock file
    second.kill()
    assert last_complete_checkpoint(out) == out / "checkpoint-4"  # the second kill lost no complete checkpoint
    assert [path.name for path in out.glob("incomplete-checkpoint-4-*")]

    output = train(argv)
    assert f"Resuming from {out / 'checkpoint-4'} " in output  # a checkpoint, not step 0
    complete = sorted(path.name for path in out.glob("checkpoint-*"))
    assert complete == ["checkpoint-6", "checkpoint-8"][-limit:]
    for step in (4, 6):  # both cut-off checkpoints kept, contents untouched by rotation
        [aside] = out.glob(f"incomplete-checkpoint-{step}-*")
        assert (aside / "adapter_model.safetensors").is_file() and not (aside / "trainer_state.json").exists()
    assert sorted(logged_losses(out)) == list(range(1, 9))


@pytest.mark.parametrize("use_mtime", [False, True])
def test_checkpoint_rotation_sees_only_complete_checkpoints(tmp_path, use_mtime):
    """transformers' rotate_checkpoints globs `checkpoint-*`; sorted by step, a set-aside `checkpoint-6.<suffix>`
    would sort after the new checkpoint-6, be kept as the newest and the complete one deleted."""
    from transformers.trainer_utils import rotate_checkpoints

    from llmtuner.train.resume import set_aside_name

    _checkpoint(tmp_path, 6, complete=False).rename(tmp_path / set_aside_name(6, 1700000000))
    _checkpoint(tmp_path, 4), _checkpoint(tmp_path, 6)
    rotate_checkpoints(str(tmp_path), save_total_limit=1, use_mtime=use_mtime)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoint-6", "incomplete-checkpoint-6-1700000000"]


def _recorded_run(tmp_path, **settings):
    """A checkpoint whose llmtuner_args.json records a run made with `settings`."""
    from llmtuner.hparams import parse_train_args
    from llmtuner.train.common import save_run_record

    checkpoint = _checkpoint(tmp_path / "out", 4)
    save_run_record(parse_train_args(sft_args(tmp_path / "data", tmp_path / "out", **settings)), str(checkpoint))
    return checkpoint


def _config(tmp_path, **settings):
    from llmtuner.hparams import parse_train_args

    return parse_train_args(sft_args(tmp_path / "data", tmp_path / "out", **settings))


def test_resuming_with_another_dataset_template_or_cutoff_is_refused_naming_each(tmp_path, warnings_logged):
    from llmtuner.extras.errors import ConfigError
    from llmtuner.train.resume_check import check_resume_settings

    checkpoint = _recorded_run(tmp_path)
    check_resume_settings(_config(tmp_path), str(checkpoint), explicit=False)  # the same run: resumes quietly
    assert warnings_logged == []
    with pytest.raises(ConfigError) as refused:
        check_resume_settings(_config(tmp_path, dataset="qa,more", cutoff_len=256, packing=True), str(checkpoint), False)
    message = str(refused.value)
    assert "dataset: ['qa'] -> ['qa', 'more']" in message and "cutoff_len: 128 -> 256" in message
    assert "packing: False -> True" in message and str(checkpoint / "llmtuner_args.json") in message
    assert "new output_dir" in message and "overwrite_output_dir: true" in message
    (tmp_path / "other-model").mkdir()
    for changed in ({"template": "qwen"}, {"finetuning_type": "full"}, {"model_name_or_path": str(tmp_path / "other-model")}):
        with pytest.raises(ConfigError, match=f"{next(iter(changed))}: "):
            check_resume_settings(_config(tmp_path, **changed), str(checkpoint), explicit=False)
    with pytest.raises(ConfigError, match="leave out resume_from_checkpoint"):  # named by the user, not found
        check_resume_settings(_config(tmp_path, dataset="more"), str(checkpoint), explicit=True)


def test_resuming_with_other_optimizer_settings_warns_and_more_steps_just_continue(tmp_path, warnings_logged):
    from llmtuner.train.resume_check import check_resume_settings

    checkpoint = _recorded_run(tmp_path, max_steps=4)
    check_resume_settings(_config(tmp_path, max_steps=40, num_train_epochs=9), str(checkpoint), explicit=False)
    assert warnings_logged == []
    check_resume_settings(_config(tmp_path, learning_rate=5e-4, lr_scheduler_type="cosine", warmup_steps=2,
                                  per_device_train_batch_size=2), str(checkpoint), explicit=False)
    [warning] = warnings_logged
    for change in ("learning_rate: 0.001 -> 0.0005", "lr_scheduler_type: 'linear' -> 'cosine'", "warmup_steps: 0",
                   "per_device_train_batch_size: 4 -> 2"):
        assert change in warning


def test_a_checkpoint_without_a_run_record_resumes_unchecked(tmp_path, warnings_logged):
    from llmtuner.train.resume_check import check_resume_settings

    checkpoint = _checkpoint(tmp_path / "out", 4)  # saved by a version that wrote no llmtuner_args.json
    check_resume_settings(_config(tmp_path, dataset="other"), str(checkpoint), explicit=False)
    (checkpoint / "llmtuner_args.json").write_text('{"data": {"dataset": "qa"', encoding="utf-8")  # torn
    check_resume_settings(_config(tmp_path, dataset="other"), str(checkpoint), explicit=False)
    assert len(warnings_logged) == 1 and "could not be read" in warnings_logged[0]


def test_a_resumed_run_is_checked_against_the_settings_its_checkpoint_recorded(tmp_path, tiny_model_dir):
    data, out = write_qa_dataset(tmp_path / "data"), tmp_path / "out"
    info = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    (data / "dataset_info.json").write_text(json.dumps({**info, "qa_other": {"file_name": "qa.json"}}), encoding="utf-8")
    train(sft_args(data, out, max_steps=2, save_steps=2))

    refused = cli("train", sft_args(data, out, max_steps=4, save_steps=2, dataset="qa_other"))
    assert refused.returncode == 2, refused.stderr[-4000:]
    assert "dataset: ['qa'] -> ['qa_other']" in refused.stderr and "overwrite_output_dir: true" in refused.stderr
    assert "Traceback" not in refused.stderr and "Loading weights" not in refused.stderr  # refused before loading

    more_steps = train(sft_args(data, out, max_steps=4, save_steps=2))
    assert f"Resuming from {out / 'checkpoint-2'} " in more_steps and "other optimizer settings" not in more_steps
    other_lr = train(sft_args(data, out, max_steps=6, save_steps=2, learning_rate=5e-4))
    assert f"Resuming from {out / 'checkpoint-4'} " in other_lr
    assert "other optimizer settings" in other_lr and "learning_rate: 0.001 -> 0.0005" in other_lr
    assert sorted(logged_losses(out)) == list(range(1, 7))

    # each resumed run follows its own schedule from its first step (linear to 0 at max_steps): not the rate the
    # checkpoint's schedule had reached (0 at its own max_steps), nor the checkpoint's base rate
    rates = _logged_rates(out)
    assert rates[3] > 0
    fresh = tmp_path / "fresh"
    train(sft_args(data, fresh, max_steps=6, save_steps=100, learning_rate=5e-4))
    expected = _logged_rates(fresh)
    assert rates[5] == pytest.approx(expected[5]) and rates[6] == pytest.approx(expected[6])


def _logged_rates(output_dir: Path) -> dict[int, float]:
    lines = (output_dir / "trainer_log.jsonl").read_text(encoding="utf-8").splitlines()
    return {record["step"]: record["lr"] for record in map(json.loads, lines) if "lr" in record}


def test_overwrite_output_dir_keeps_the_earlier_runs_checkpoints_out_of_rotation_and_resume(tmp_path):
    from types import SimpleNamespace

    from llmtuner.train.resume import last_complete_checkpoint, resolve_resume

    for step in (2, 4):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (tmp_path / "trainer_log.jsonl").write_text('{"step": 4}\n')
    (tmp_path / "notes.txt").write_text("mine")
    args = SimpleNamespace(resume_from_checkpoint=None, output_dir=str(tmp_path), do_train=True)
    assert resolve_resume(args, overwrite_output_dir=True) is None
    [kept] = list(tmp_path.glob("previous-run-*"))
    assert sorted(p.name for p in kept.iterdir()) == ["checkpoint-2", "checkpoint-4", "trainer_log.jsonl"]
    assert not list(tmp_path.glob("checkpoint-*")) and (tmp_path / "notes.txt").read_text() == "mine"
    assert last_complete_checkpoint(tmp_path) is None  # a later resume cannot pick the earlier run's checkpoint


def test_a_resumed_schedule_keeps_each_groups_own_rate(tmp_path):
    """LoRA+ gives the B matrices their own (higher) rate: the resumed schedule keeps each group's new base rate. The
    objects are torch's and transformers' own; the checkpoint is loaded the way the Trainer loads it."""
    from types import SimpleNamespace

    import torch
    from transformers import get_linear_schedule_with_warmup

    from llmtuner.train.callbacks import ResumedScheduleCallback

    weights = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))]

    def optimizer(rates):
        return torch.optim.AdamW([{"params": [weights[0]], "lr": rates[0]}, {"params": [weights[1]], "lr": rates[1]}])

    old = optimizer([1e-3, 1.6e-2])
    old_schedule = get_linear_schedule_with_warmup(old, 0, 2)
    for _ in range(2):  # the earlier run: 2 steps, its schedule at 0
        old.step()
        old_schedule.step()
    new = optimizer([5e-4, 8e-3])  # the resumed run: other rates, max_steps 4
    callback = ResumedScheduleCallback()
    args, state = SimpleNamespace(learning_rate=5e-4), SimpleNamespace(global_step=2)
    callback.on_init_end(args, state, None, optimizer=new)  # the stage's optimizer, before the checkpoint loads
    schedule = get_linear_schedule_with_warmup(new, 0, 4)
    new.load_state_dict(old.state_dict())
    schedule.load_state_dict(old_schedule.state_dict())
    assert [group["lr"] for group in new.param_groups] == [0.0, 0.0]  # what the checkpoint brought
    callback.on_train_begin(args, state, None, optimizer=new, lr_scheduler=schedule)
    assert [group["lr"] for group in new.param_groups] == pytest.approx([2.5e-4, 4e-3])  # half way through 4 steps
    assert schedule.last_epoch == 2 and schedule.get_last_lr() == pytest.approx([2.5e-4, 4e-3])
