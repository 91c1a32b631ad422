"""The `llmtuner` command: fast help, dispatch, preview output."""

import subprocess
import sys
import time

from conftest import ROOT

from llmtuner.cli import main


def test_top_level_help_is_fast():
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "llmtuner.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "preview" in result.stdout
    assert time.perf_counter() - start < 5


def test_train_help_lists_every_group(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for marker in ("ModelArguments:", "DataArguments:", "FinetuningArguments:", "Seq2SeqTrainingArguments", "--deidentify"):
        assert marker in out


def test_unknown_command(capsys):
    assert main(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


def test_templates_lists_the_medical_template(capsys):
    assert main(["templates"]) == 0
    out = capsys.readouterr().out
    assert "shuzhiqihuang" in out and "qwen3" in out and "llama3" in out


def test_user_error_has_no_traceback(capsys, tmp_path):
    assert main(["preview", "--model_name_or_path", "m", "--template", "qwen", "--dataset", "nope",
                 "--dataset_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Unknown dataset 'nope'" in err and "Traceback" not in err


def test_preview_marks_masked_spans_and_prints_stats(tiny_model_dir, capsys):
    code = main(["preview", "--model_name_or_path", str(tiny_model_dir), "--template", "shuzhiqihuang",
                 "--dataset", "medical_sft_sample", "--dataset_dir", str(ROOT / "data"), "--max_samples", "20",
                 "--cutoff_len", "256", "--preview_samples", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "=== train row 0" in out and "=== train row 1" in out and "=== train row 2" not in out
    assert "⟦<|im_start|>system" in out  # the prompt is masked
    assert "samples: 20, kept: 20" in out and "tokens per sample: p50" in out
    assert "without packing" in out and "with packing" in out


def test_preview_of_grpo_shows_the_prompts_as_training_renders_them(tiny_model_dir, capsys):
    from llmtuner.train.grpo.rewards import MCQ_FORMAT_INSTRUCTION

    code = main(["preview", "--model_name_or_path", str(tiny_model_dir), "--stage", "grpo", "--template",
                 "shuzhiqihuang", "--dataset", "medical_grpo_sample", "--dataset_dir", str(ROOT / "data"),
                 "--max_samples", "6", "--cutoff_len", "256", "--preview_samples", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "=== train prompt 0" in out and "=== train prompt 1" not in out
    assert out.count(MCQ_FORMAT_INSTRUCTION) == 1  # the exam item ends with training's answer instruction
    assert out.index(MCQ_FORMAT_INSTRUCTION) < out.index("<|im_start|>assistant")
    assert "--- answer: " in out and "--- options: " in out  # what the rewards read
    assert "prompts: 6" in out and "prompt tokens: p50" in out



def test_build_tiny_into_a_full_folder_is_a_one_line_error(capsys, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")
    assert main(["build-tiny", "--output_dir", str(folder)]) == 2  # refused before anything is built
    err = capsys.readouterr().err.strip()
    assert err.startswith("llmtuner build-tiny: error:") and "--overwrite" in err and len(err.splitlines()) == 1
    assert [p.name for p in folder.iterdir()] == ["notes.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    (tmp_path / "empty").mkdir()
    assert main(["build-tiny", "--output_dir", str(tmp_path / "new"), "--data_dir", str(tmp_path / "empty")]) == 2
    assert "No training text" in capsys.readouterr().err and not (tmp_path / "new").exists()


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    from llmtuner import cli

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "eval", interrupted)
    assert cli.main(["eval", "--model_name_or_path", "embedded"]) == 130
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "interrupted" in error and "Traceback" not in error
