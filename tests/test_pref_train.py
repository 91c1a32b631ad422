"""The preference stages train the embedded model on the project's medical pairs (CPU, LoRA), through TRL 1.x.

DPO and KTO show their logged reward margin rising on the training pairs; ORPO, SimPO and the reward model train
and save; the DPO adapter is scored by `llmtuner eval` and released by `llmtuner export`; trainer_log.jsonl and the
plots carry each stage's own metrics; freeze/full get a reference copy or precomputed log-probs; ZeRO-2 runs.
"""

import json
import typing

import pytest
from conftest import ROOT
from run_helpers import cli, train

DATA = str(ROOT / "data")


def pref_args(output_dir, stage, **overrides) -> list[str]:
    settings = {
        "model_name_or_path": "embedded", "stage": stage, "finetuning_type": "lora", "template": "shuzhiqihuang",
        "dataset": "medical_preference_sample", "dataset_dir": DATA, "cutoff_len": 256, "output_dir": str(output_dir),
        "per_device_train_batch_size": 8, "max_steps": 8, "logging_steps": 1, "learning_rate": 5e-3, "lora_rank": 8,
        "seed": 42, "report_to": "none", "dataloader_num_workers": 0, "gradient_checkpointing": False,
        "save_strategy": "no", "plot_loss": False,
    }
    settings.update(overrides)
    argv: list[str] = []
    for key, value in settings.items():
        argv += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return argv


def log_records(output_dir) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "trainer_log.jsonl").read_text().splitlines() if line.strip()]


def rising(records: list[dict], key: str) -> tuple[float, float]:
    """(mean of the first two logged values, mean of the last three)."""
    values = [record[key] for record in records if key in record]
    assert len(values) >= 6, records
    return sum(values[:2]) / 2, sum(values[-3:]) / 3


@pytest.fixture(scope="module")
def dpo_run(tmp_path_factory, tiny_model_dir):
    out = tmp_path_factory.mktemp("dpo")
    train(pref_args(out, "dpo", plot_loss=True))
    return out


def test_dpo_margin_and_accuracy_rise_on_the_training_pairs(dpo_run):
    records = log_records(dpo_run)
    assert [record["step"] for record in records] == list(range(1, 9))
    first, last = rising(records, "rewards/margins")
    assert first < 0.5 and last > first + 0.5, records
    assert rising(records, "rewards/accuracies")[1] >= 0.9
    assert records[-1]["loss"] < records[0]["loss"]
    for key in ("rewards/chosen", "rewards/rejected", "logps/chosen", "tokens_per_s"):
        assert key in records[-1]


def test_dpo_saves_an_adapter_its_run_record_and_the_reward_plots(dpo_run):
    assert (dpo_run / "adapter_model.safetensors").is_file() and not (dpo_run / "ref").exists()  # the trained adapter only
    adapter = json.loads((dpo_run / "adapter_config.json").read_text())
    assert adapter["task_type"] == "CAUSAL_LM"
    record = json.loads((dpo_run / "llmtuner_args.json").read_text())
    assert record["finetuning"]["stage"] == "dpo" and record["finetuning"]["pref_beta"] == 0.1
    for plot in ("training_loss.png", "training_rewards_margins.png", "training_rewards_accuracies.png"):
        assert (dpo_run / plot).is_file(), plot


def test_the_dpo_adapter_is_scored_by_the_evaluator_and_released_by_the_export(dpo_run, tmp_path):
    evaluation = cli("eval", ["--model_name_or_path", "embedded", "--adapter_name_or_path", str(dpo_run), "--template",
                              "shuzhiqihuang", "--eval_dataset", "clinical_qa_sample", "--dataset_dir", DATA, "--task", "qa",
                              "--max_samples", "3", "--max_new_tokens", "8", "--output_dir", str(tmp_path / "eval")])
    assert evaluation.returncode == 0, evaluation.stderr[-4000:]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["samples"] == 3 and "rouge-l" in metrics["overall"]
    export = cli("export", ["--model_name_or_path", "embedded", "--adapter_name_or_path", str(dpo_run),
                            "--export_dir", str(tmp_path / "release")])
    assert export.returncode == 0, export.stderr[-4000:]
    assert (tmp_path / "release" / "model.safetensors").is_file()


def test_kto_margin_rises_on_pairs_split_into_desirable_and_undesirable_answers(tmp_path, tiny_model_dir):
    out = tmp_path / "kto"
    train(pref_args(out, "kto", max_steps=10))
    records = log_records(out)
    first, last = rising(records, "rewards/margins")
    assert last > first + 0.3, records
    assert "kl" in records[-1] and (out / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize(("stage", "metric"), [("orpo", "rewards/accuracies"), ("simpo", "rewards/margins"), ("rm", "accuracy")])
def test_reference_free_stages_and_the_reward_model_train_and_save(stage, metric, tmp_path, tiny_model_dir):
    out = tmp_path / stage
    train(pref_args(out, stage, max_steps=3))
    records = log_records(out)
    assert [record["step"] for record in records] == [1, 2, 3] and metric in records[-1]
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert (out / "adapter_model.safetensors").is_file()
    if stage == "rm":  # a value head: peft's sequence-classification task saves the head `score` with the adapter
        assert adapter["task_type"] == "SEQ_CLS" and "score" in adapter["modules_to_save"]
    else:
        assert adapter["task_type"] == "CAUSAL_LM"


def test_unpaired_kto_data_trains(tmp_path, tiny_model_dir):
    out = tmp_path / "kto_unpaired"
    train(pref_args(out, "kto", dataset="medical_kto_sample", max_steps=2))
    assert (out / "adapter_model.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("finetuning", ["freeze", "full"])
def test_freeze_uses_a_reference_copy_and_full_precomputed_log_probs(finetuning, tmp_path, tiny_model_dir):
    out = tmp_path / finetuning
    extra = {"pref_precompute_ref": True} if finetuning == "full" else {}
    output = train(pref_args(out, "dpo", finetuning_type=finetuning, max_steps=3, learning_rate=1e-3, **extra))
    assert ("frozen reference copy" in output) == (finetuning == "freeze")
    records = log_records(out)
    assert records[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-4)  # the policy starts as its reference
    assert (out / "model.safetensors").is_file()


@pytest.mark.slow
def test_dpo_resumes_from_its_checkpoint(tmp_path, tiny_model_dir):
    out = tmp_path / "resume"
    train(pref_args(out, "dpo", max_steps=2, save_strategy="steps", save_steps=2))
    output = train(pref_args(out, "dpo", max_steps=4, save_strategy="steps", save_steps=2))
    assert "checkpoint-2" in output
    assert [record["step"] for record in log_records(out)] == [1, 2, 3, 4]


@pytest.mark.distributed
def test_dpo_under_zero2_on_two_cpu_processes(tmp_path, tiny_model_dir):
    out = tmp_path / "zero2"
    train(pref_args(out, "dpo", per_device_train_batch_size=4, max_steps=3, deepspeed=str(ROOT / "deepspeed_config.json")),
          processes=2)
    records = log_records(out)
    assert [record["step"] for record in records] == [1, 2, 3] and "rewards/margins" in records[-1]
    assert (out / "adapter_model.safetensors").is_file()


def test_pref_loss_choices_are_the_losses_trl_accepts():
    from trl import DPOConfig

    from llmtuner.hparams import FinetuningArguments

    ours = typing.get_args(typing.get_type_hints(FinetuningArguments)["pref_loss"])
    help_text = next(f for f in DPOConfig.__dataclass_fields__.values() if f.name == "loss_type").metadata["help"]
    trl_losses = set(__import__("re").findall(r"`'(\w+)'`", help_text))
    assert set(ours) == trl_losses - {"sft"}  # sft is added by pref_ftx with its weight
