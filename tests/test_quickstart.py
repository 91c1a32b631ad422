"""scripts/quickstart.sh (README command 1): the script parses, and its summary reads what the stages write."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, SHARED


def test_quickstart_script_is_valid_bash_and_runs_every_stage():
    script = ROOT / "scripts" / "quickstart.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text(encoding="utf-8")
    for stage in ("setup_env.sh", "run_pt_shuzhiqihuang.sh", "run_sft_shuzhiqihuang.sh", "src/evaluate.py",
                  "src/export_model.py", "quickstart_summary.py"):
        assert stage in text


def test_summary_answers_with_the_release_and_prints_before_and_after(tmp_path, tiny_model_dir):
    out = tmp_path / "quickstart"
    (out / "release").parent.mkdir(parents=True)
    (out / "release").symlink_to(tiny_model_dir)  # any model folder with a chat template serves as a release
    for run, overall in (("base_qa", {"rouge-l": 0.25, "bleu-4": 0.1, "term_recall": 0.0}),
                         ("tuned_qa", {"rouge-l": 11.5, "bleu-4": 1.2, "term_recall": 1.9}),
                         ("base_mcq", {"accuracy": 20.0}), ("tuned_mcq", {"accuracy": 25.0})):
        (out / "eval" / run).mkdir(parents=True)
        (out / "eval" / run / "metrics.json").write_text(json.dumps({"overall": overall}))
    (out / "sft").mkdir()
    (out / "sft" / "trainer_log.jsonl").write_text('{"step": 10, "loss": 4.0, "tokens_per_s": 3210.5}\n')
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "quickstart_summary.py"), str(out)],
                            capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert sum(line.strip().startswith("答：") for line in lines) == 2
    assert any("ROUGE-L" in line and "0.25" in line and "11.50" in line for line in lines)
    assert any("MCQ" in line and "20.00" in line and "25.00" in line for line in lines)
    assert any("3,210 tokens/s" in line for line in lines) and any("PT / SFT" in line and "-" in line for line in lines)


@pytest.mark.slow
def test_quickstart_smoke_mode_runs_every_stage_end_to_end(tmp_path):
    """README command 1 itself, a few steps per stage: what CI runs on every landing."""
    out = tmp_path / "demo"
    env = {key: value for key, value in os.environ.items() if key not in ("CLEAN", "SMOKE")}
    result = subprocess.run(["bash", str(ROOT / "scripts" / "quickstart.sh"), "--smoke"], cwd=ROOT, capture_output=True, text=True,
                            env={**env, "QUICKSTART_DIR": str(out)})
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    for stage in range(1, 9):
        assert f"==== [{stage}/8]" in result.stdout
    assert (out / "pt" / "model.safetensors").is_file() and (out / "sft" / "adapter_model.safetensors").is_file()
    assert (out / "release" / "config.json").is_file()
    runs = ["base_qa", "base_mcq", "tuned_qa", "tuned_mcq"] + (["base_dev", "tuned_dev"] if SHARED.is_dir() else [])
    for run in runs:
        metrics = json.loads((out / "eval" / run / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["samples"] == 4  # --smoke's evaluation limit reached every set
    table = result.stdout[result.stdout.index("metric (x100)"):]
    assert "clinical QA ROUGE-L" in table and "exam (MCQ) accuracy" in table
    assert ("shared clinical_qa_dev ROUGE-L" in table) == SHARED.is_dir()


def test_quickstart_clean_refuses_a_folder_it_did_not_make(tmp_path):
    """Also: a generic CLEAN=1 in the environment is not --clean (it would otherwise remove the demo folder)."""
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    result = subprocess.run(["bash", str(ROOT / "scripts" / "quickstart.sh"), "--clean"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "QUICKSTART_DIR": str(foreign)})
    assert result.returncode == 2 and "not made by this demo" in result.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"
    result = subprocess.run(["bash", str(ROOT / "scripts" / "quickstart.sh"), "--bogus"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "QUICKSTART_DIR": str(foreign), "CLEAN": "1"})
    assert result.returncode == 2 and "unknown option" in result.stderr and (foreign / "notes.txt").exists()
