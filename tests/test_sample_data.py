"""The project's sample data: build.py reproduces data/ byte for byte, and check.py (incl. containment) passes."""

import subprocess
import sys

from conftest import ROOT

SCRIPTS = ROOT / "scripts" / "sample_data"
GENERATED = ["medical_pt_sample.jsonl", "medical_sft_sample.json", "medical_dialogue_sample.json", "clinical_qa_sample.json",
             "medical_mcq_sample.json", "medical_terms.txt", "dataset_info.json", "README.md"]


def test_build_reproduces_the_committed_data_exactly(tmp_path):
    result = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(SCRIPTS)!r}); import build; "
                             f"build.main({str(tmp_path)!r})"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (ROOT / "data" / name).read_bytes(), f"data/{name} differs from what build.py writes"


def test_check_passes_and_reports_containment_below_the_limit():
    result = subprocess.run([sys.executable, str(SCRIPTS / "check.py")], capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "median" in result.stdout.lower()


def test_check_fails_when_an_evaluation_answer_is_a_near_copy_of_training_text(tmp_path):
    import json
    import shutil

    for name in GENERATED:
        shutil.copy(ROOT / "data" / name, tmp_path / name)
    qa = json.loads((tmp_path / "clinical_qa_sample.json").read_text(encoding="utf-8"))
    sft = json.loads((tmp_path / "medical_sft_sample.json").read_text(encoding="utf-8"))
    sft[0]["output"] = sft[0]["output"] + qa[0]["output"][:-2] + "。"  # a training answer that contains a reference answer
    (tmp_path / "medical_sft_sample.json").write_text(json.dumps(sft, ensure_ascii=False, indent=2), encoding="utf-8")
    result = subprocess.run([sys.executable, str(SCRIPTS / "check.py"), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert qa[0]["id"] in result.stdout
