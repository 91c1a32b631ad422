"""A full disk during a checkpoint save, the final save or an export: the previous checkpoint or release stays
intact and loadable, nothing half-written is taken for complete by the next run, and the user reads one line
saying what failed, what is intact and what to do.

The full disk is a fault injection (a test double, tests/cli_probe.py): the first write of a chosen file is cut
to half its size and then raises what a full disk raises (OSError ENOSPC, or the library's own error).
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT
from run_helpers import child_env, cli, logged_losses, sft_args, write_qa_dataset

from llmtuner.extras.run_lock import LOCK_NAME, lock_path
from llmtuner.train.resume import last_complete_checkpoint, resolve_resume

PROBE = ROOT / "tests" / "cli_probe.py"


def probe(command: str, argv: list[str], timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """`llmtuner COMMAND argv` as a user runs it, with the probe's fault injection chosen by `env`."""
    return subprocess.run([sys.executable, str(PROBE), command, *argv], cwd=ROOT, env=child_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def hashes(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def final_files(folder: Path) -> dict[str, str]:
    """The final model's files in a training output_dir (beside the checkpoints)."""
    return {name: digest for name, digest in hashes(folder).items()
            if "/" not in name and name.startswith(("adapter_", "tokenizer", "special_tokens", "chat_template"))}


def one_error_line(result: subprocess.CompletedProcess, command: str) -> str:
    """The CLI's error: exit code 2, one line, no traceback."""
    assert result.returncode == 2, result.stderr[-6000:]
    assert "Traceback" not in result.stderr, result.stderr[-6000:]
    [line] = [line for line in result.stderr.splitlines() if line.startswith(f"llmtuner {command}: error:")]
    return line


def test_a_full_disk_while_saving_a_checkpoint_or_the_final_model_keeps_the_last_complete_one(tmp_path, tiny_model_dir):
    data, out = write_qa_dataset(tmp_path / "data"), tmp_path / "out"
    first = cli("train", sft_args(data, out, max_steps=2, save_steps=2))
    assert first.returncode == 0, first.stderr[-6000:]
    checkpoint_2, final_2 = hashes(out / "checkpoint-2"), final_files(out)
    assert "adapter_model.safetensors" in final_2 and "trainer_state.json" in checkpoint_2

    # 1. the disk fills while checkpoint-4 is saved: its weights are written, its optimizer state is cut off
    argv = sft_args(data, out, max_steps=4, save_steps=2, save_total_limit=1)
    fired = tmp_path / "fired"
    full = probe("train", argv, FAULT_NO_SPACE=f"{out}/checkpoint-4/optimizer.pt", FAULT_NO_SPACE_FIRED=str(fired))
    error = one_error_line(full, "train")
    assert fired.read_text() == str(out / "checkpoint-4" / "optimizer.pt")  # the fault fired where it was meant to
    assert f"Training stopped at step 4: a write into {out} failed (no space left on device)." in error
    assert f"The last complete checkpoint, {out / 'checkpoint-2'}, is intact; the next run resumes from it" in error
    assert "GB free on the disk of" in error and "free space there" in error and "run the same command again" in error
    assert hashes(out / "checkpoint-2") == checkpoint_2 and final_files(out) == final_2  # nothing written over
    # the cut-off checkpoint is set aside at once: out of the trainer's checkpoint-* glob, kept as it was
    assert last_complete_checkpoint(out) == out / "checkpoint-2" and not (out / "checkpoint-4").exists()
    [aside] = out.glob("incomplete-checkpoint-4-*")
    assert (aside / "adapter_model.safetensors").is_file() and not (aside / "trainer_state.json").exists()
    assert not (out / LOCK_NAME).exists()

    # 2. the next run resumes from checkpoint-2, saves checkpoint-4 whole, and the disk fills in the final save
    full = probe("train", argv, FAULT_NO_SPACE=f"{out}/.saving/adapter_model.safetensors", FAULT_STYLE="library")
    error = one_error_line(full, "train")
    assert f"Resuming from {out / 'checkpoint-2'} " in full.stderr
    assert f"Saving the final model into {out} failed (no space left on device)" in error  # SafetensorError's words
    assert f"The last complete checkpoint, {out / 'checkpoint-4'}, is intact" in error
    assert final_files(out) == final_2 and not (out / ".saving").exists()  # the earlier final save is untouched
    checkpoint_4 = hashes(out / "checkpoint-4")
    assert json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4

    # 3. space freed, the same command again: resumes from checkpoint-4 and writes the final model
    done = cli("train", argv)
    assert done.returncode == 0, done.stderr[-6000:]
    assert f"Resuming from {out / 'checkpoint-4'} " in done.stderr and "nothing left to train" in done.stderr
    assert hashes(out / "checkpoint-4") == checkpoint_4
    assert final_files(out)["adapter_model.safetensors"] == checkpoint_4["adapter_model.safetensors"]  # trained 4 steps
    assert sorted(logged_losses(out)) == [1, 2, 3, 4]
    assert not (out / ".saving").exists() and not list(out.glob(".*.tmp-*"))


def test_a_torch_save_that_meets_a_full_disk_is_reported_too(tmp_path, tiny_model_dir):
    """torch.save says only "unexpected pos ..." when the disk is full (measured on a full tmpfs)."""
    data, out = write_qa_dataset(tmp_path / "data"), tmp_path / "out"
    full = probe("train", sft_args(data, out, max_steps=2, save_steps=2), FAULT_NO_SPACE=f"{out}/checkpoint-2/optimizer.pt",
                 FAULT_STYLE="library")
    error = one_error_line(full, "train")
    assert "a write into" in error and "torch.save" in error and "the disk is probably full" in error
    assert "No checkpoint was complete yet: the next run starts from step 0." in error
    assert last_complete_checkpoint(out) is None and list(out.glob("incomplete-checkpoint-2-*"))
    # the next run starts over (what is left is a stopped run's, not someone's files to refuse)
    args = SimpleNamespace(resume_from_checkpoint=None, output_dir=str(out), do_train=True)
    assert resolve_resume(args, overwrite_output_dir=False) is None


@pytest.fixture(scope="module")
def adapter(tiny_model_dir, tmp_path_factory) -> Path:
    from test_export import base_model, make_adapter

    return make_adapter(base_model(tiny_model_dir), tmp_path_factory.mktemp("adapters") / "lora")


def export_argv(adapter: Path, export_dir: Path, *flags: str) -> list[str]:
    return ["--model_name_or_path", "embedded", "--adapter_name_or_path", str(adapter), "--template", "shuzhiqihuang",
            "--export_dir", str(export_dir), "--export_size", "0.005", *flags]


def export_leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".") and any(
        kind in p.name for kind in (".export-", ".merged-", ".old-", ".tmp-")))


def test_a_full_disk_during_an_export_with_overwrite_keeps_the_previous_release(tmp_path, adapter):
    from llmtuner.export import run_export
    from llmtuner.hparams import parse_export_args

    release = tmp_path / "release"
    run_export(parse_export_args(export_argv(adapter, release, "--skip_verify")))  # the earlier release
    before = hashes(release)
    assert len([name for name in before if name.startswith("model-")]) >= 3  # sharded: the fault hits the second shard

    full = probe("export", export_argv(adapter, release, "--overwrite"),
                 FAULT_NO_SPACE=f"{tmp_path}/.release.export-*/model-00002-of-*.safetensors", FAULT_STYLE="library")
    error = one_error_line(full, "export")
    assert "Writing the release failed (no space left on device). Nothing was published and the partial files were " \
           f"removed: the previous release in {release} is intact and unchanged." in error
    assert "GB free on the disk of" in error and "the release needs about" in error and "run the same command again" in error
    assert hashes(release) == before and export_leftovers(tmp_path) == []
    assert not lock_path(release, beside=True).exists()

    # the next export is not misled by anything the failed one left: it replaces the earlier release
    run_export(parse_export_args(export_argv(adapter, release, "--overwrite")))
    info = json.loads((release / "export_info.json").read_text(encoding="utf-8"))
    assert info["verification"] != {"skipped": True} and export_leftovers(tmp_path) == []


def test_a_full_disk_during_a_first_export_creates_no_folder(tmp_path, adapter, monkeypatch):
    from cli_probe import no_space_patches

    from llmtuner.export import run_export
    from llmtuner.extras.errors import DiskFullError
    from llmtuner.hparams import parse_export_args

    for module, name, writer in no_space_patches(f"{tmp_path}/.new.export-*/model-00001-of-*.safetensors"):
        monkeypatch.setattr(module, name, writer)  # fault injection: the disk is full at the first shard
    with pytest.raises(DiskFullError, match=rf"Nothing was published .*: {tmp_path / 'new'} was not created\."):
        run_export(parse_export_args(export_argv(adapter, tmp_path / "new", "--skip_verify")))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_write_failure_recognises_what_each_library_raises_on_a_full_disk():
    import errno

    from safetensors import SafetensorError

    from llmtuner.extras.files import write_failure

    assert write_failure(OSError(errno.ENOSPC, "No space left on device")) == "no space left on device"
    assert write_failure(OSError(errno.EDQUOT, "Disk quota exceeded")) == "disk quota exceeded"
    # measured on a 256 KiB tmpfs: safetensors' and torch's own errors carry no errno
    assert write_failure(SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")) \
        == "no space left on device"
    assert "torch.save" in write_failure(RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"))
    assert "torch.save" in write_failure(RuntimeError("PytorchStreamWriter failed writing file data/3: file write failed"))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("saving failed") from inner
    except RuntimeError as outer:
        assert write_failure(outer) == "no space left on device"  # found through the cause
    for other in (OSError(errno.EACCES, "Permission denied"), RuntimeError("CUDA out of memory"), ValueError("bad"),
                  RuntimeError("PytorchStreamReader failed reading zip archive")):
        assert write_failure(other) is None


def test_a_full_disk_during_an_evaluation_keeps_the_answers_written_and_resumes(tmp_path, tiny_model_dir, monkeypatch):
    import errno

    from llmtuner.eval import store
    from llmtuner.eval.evaluator import run_evaluation
    from llmtuner.extras.errors import DiskFullError
    from llmtuner.hparams import parse_eval_args

    out = tmp_path / "out"
    argv = ["--model_name_or_path", "embedded", "--template", "shuzhiqihuang", "--eval_dataset", "clinical_qa_sample",
            "--dataset_dir", str(ROOT / "data"), "--task", "qa", "--output_dir", str(out), "--max_new_tokens", "4",
            "--batch_size", "2", "--max_samples", "4"]
    real_append, calls = store.append_jsonl, []

    def append_then_full(path, records):  # fault injection: the second batch of answers meets a full disk
        calls.append([record["id"] for record in records])
        if len(calls) == 2:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write('{"id": "%s", "predic' % records[0]["id"])  # what a full disk leaves: part of a line
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_append(path, records)

    monkeypatch.setattr(store, "append_jsonl", append_then_full)
    with pytest.raises(DiskFullError, match=rf"Writing the evaluation into {out} failed \(no space left on device\); "
                                            "the answers already in predictions.jsonl are kept"):
        run_evaluation(parse_eval_args(argv))
    first_batch = calls[0]
    assert sorted(store.PredictionStore(out / "predictions.jsonl").load()) == sorted(first_batch)
    appended: list[str] = []
    monkeypatch.setattr(store, "append_jsonl", lambda path, records: appended.extend(r["id"] for r in records)
                        or real_append(path, records))
    metrics = run_evaluation(parse_eval_args(argv))  # space freed: resumes after the two answers kept
    assert metrics["samples"] == 4 and len(appended) == 2 and not set(appended) & set(first_batch)
    ids = [json.loads(line)["id"] for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert ids == ["cqa-0001", "cqa-0002", "cqa-0003", "cqa-0004"]  # whole lines only: the cut-off one is gone
