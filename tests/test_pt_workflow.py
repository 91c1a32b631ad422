"""Continued pretraining end to end on the tiny model: learning, eval loss and perplexity, log and plot."""

import json
import math

from run_helpers import logged_losses, train


def test_pt_learns_and_reports_perplexity(tmp_path, tiny_model_dir):
    data = tmp_path / "data"
    data.mkdir()
    lines = [{"text": f"麻黄汤由麻黄、桂枝、杏仁、炙甘草组成，功能发汗解表，宣肺平喘，第{i}次复习。"} for i in range(60)]
    (data / "pt.jsonl").write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines), encoding="utf-8")
    (data / "dataset_info.json").write_text(json.dumps({"corpus": {"file_name": "pt.jsonl", "columns": {"prompt": "text"}}}))
    out = tmp_path / "out"
    settings = {
        "model_name_or_path": "embedded", "stage": "pt", "finetuning_type": "full", "dataset": "corpus",
        "dataset_dir": str(data), "cutoff_len": 64, "output_dir": str(out), "do_train": "true", "do_eval": "true",
        "val_size": 8, "per_device_train_batch_size": 4, "max_steps": 12, "logging_steps": 1, "learning_rate": 2e-3,
        "eval_strategy": "steps", "eval_steps": 6, "report_to": "none", "plot_loss": "true", "save_steps": 6,
    }
    train([token for key, value in settings.items() for token in (f"--{key}", str(value))])
    losses = logged_losses(out)
    assert sorted(losses) == list(range(1, 13))
    assert losses[12] < losses[1] - 1.0  # a repeated sentence is learned quickly
    results = json.loads((out / "all_results.json").read_text())
    assert math.isclose(results["eval_perplexity"], math.exp(results["eval_loss"]), rel_tol=1e-6)
    log = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert sorted({record["step"] for record in log if "eval_loss" in record}) == [6, 12]  # + the final evaluation
    assert all({"lr", "elapsed_s"} <= record.keys() for record in log if "loss" in record)
    assert (out / "training_loss.png").stat().st_size > 1000
    assert (out / "model.safetensors").exists()
    for folder in (out, out / "checkpoint-6", out / "checkpoint-12"):  # an export of any of them knows the run
        record = json.loads((folder / "llmtuner_args.json").read_text(encoding="utf-8"))
        assert record["finetuning"]["stage"] == "pt" and record["data"]["dataset"] == ["corpus"]
