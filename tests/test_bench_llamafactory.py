"""scripts/bench_llamafactory.py without LLaMA-Factory: statistics, the two frameworks' settings, token counting."""

import importlib.util
import json

import pytest
import torch
from conftest import ROOT

spec = importlib.util.spec_from_file_location("bench_llamafactory", ROOT / "scripts" / "bench_llamafactory.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _runs(config, ours, lf):
    return ([{"config": config, "framework": "ours", "round": i, "tokens_per_s": v} for i, v in enumerate(ours)]
            + [{"config": config, "framework": "lf", "round": i, "tokens_per_s": v} for i, v in enumerate(lf)])


def test_summary_median_spread_and_ratios():
    summary = bench.compare(_runs("lora", ours=[100.0, 130.0, 110.0], lf=[50.0, 50.0, 70.0]), "lora")
    assert summary["ours"] == {"median": 110.0, "min": 100.0, "max": 130.0, "n": 3, "spread": pytest.approx(15 / 110)}
    assert summary["lf"]["median"] == 50.0
    assert summary["ratio"] == pytest.approx(110 / 50)
    # paired by round: 100/50, 130/50, 110/70
    assert summary["paired_ratios"]["min"] == pytest.approx(110 / 70)
    assert summary["paired_ratios"]["max"] == pytest.approx(130 / 50)
    assert summary["paired_ratios"]["median"] == pytest.approx(2.0)
    assert bench.summarize([4.0, 1.0])["median"] == 2.5  # even count: mean of the middle two


def test_failed_runs_and_missing_framework():
    runs = _runs("full", ours=[10.0], lf=[]) + [{"config": "full", "framework": "lf", "round": 0, "error": "exit code 1"}]
    summary = bench.compare(runs, "full")
    assert "lf" not in summary and "ratio" not in summary
    assert "(missing runs)" in bench.format_table([r for r in runs if "error" not in r], ["full"])


def test_table_lists_each_config():
    runs = [{**r, "tokens": 1000, "peak_rss_gib": 2.0, "loss": 8.5} for r in _runs("lora", [200.0, 220.0], [100.0, 110.0])]
    table = bench.format_table(runs, ["lora"])
    row = table.splitlines()[2]
    assert row.startswith("| lora | 105 (100–110) | 210 (200–220) | 2.00x (2.00–2.00) | 1,000 / 1,000 |")


def test_rounds_alternate_and_reverse():
    assert [bench.round_order(i) for i in range(4)] == [("ours", "lf"), ("lf", "ours"), ("ours", "lf"), ("lf", "ours")]


def _ours_settings(argv):
    assert len(argv) % 2 == 0
    return {argv[i].removeprefix("--"): argv[i + 1] for i in range(0, len(argv), 2)}


@pytest.mark.parametrize("config", list(bench.CONFIGS))
def test_both_frameworks_get_the_same_settings(config):
    ours = _ours_settings(bench.ours_argv(config, "MODEL", "DATA", "medical_sft", "OUT"))
    lf = bench.lf_config(config, "MODEL", "LF_DATA", "medical_sft", "OUT")
    finetuning, packing, lf_packing = bench.CONFIGS[config]
    for key, value in bench.settings_for(config).items():
        assert ours[key] == bench._flag(value), key
        assert lf[key] == value, key
    assert ours["model_name_or_path"] == lf["model_name_or_path"] == "MODEL"
    assert ours["dataset"] == lf["dataset"] == "medical_sft"
    assert (ours["template"], ours["cutoff_len"], ours["per_device_train_batch_size"], ours["max_steps"]) == ("qwen", "1024", "8", "10")
    assert ours["finetuning_type"] == lf["finetuning_type"] == finetuning
    assert ("lora_rank" in ours) == ("lora_rank" in lf) == (finetuning == "lora")
    assert ours["gradient_checkpointing"] == "false" and lf["disable_gradient_checkpointing"] is True
    assert lf["include_num_input_tokens_seen"] == "non_padding"
    assert ours["packing"] == bench._flag(packing)
    if lf_packing == "neat_packing":  # ours never lets packed samples attend to each other, LF's neat_packing neither
        assert lf["neat_packing"] is True and "packing" not in lf
    else:
        assert lf["packing"] is (lf_packing == "packing")
    assert not any(key in lf for key in ("gradient_checkpointing", "lora_target_modules"))
    json.dumps(lf)  # written as JSON (which is YAML) for LLaMA-Factory


def test_max_steps_reaches_both():
    assert _ours_settings(bench.ours_argv("lora", "M", "D", "d", "O", max_steps=2))["max_steps"] == "2"
    lf = bench.lf_config("lora", "M", "D", "d", "O", max_steps=2)
    assert (lf["max_steps"], lf["logging_steps"]) == (2, 2)


def test_default_configs_are_the_readme_table():
    assert bench.DEFAULT_CONFIGS == ("lora", "lora-packing", "full", "full-packing")
    assert set(bench.DEFAULT_CONFIGS) <= set(bench.CONFIGS)


def test_count_non_padding_on_a_packed_batch():
    pad = 0
    rows = [[5, 6, 7, 8, 9, 5, 6, 0, 0],  # two samples packed, then padding
            [4, 4, 4, 4, 4, 4, 4, 4, 0],
            [0, 0, 0, 0, 0, 0, 0, 0, 0]]
    assert bench.count_non_padding(rows, pad) == 15
    assert bench.count_non_padding(torch.tensor(rows), pad) == 15


class _Loader:
    """Stands in for the trainer's dataloader: a fixed order per epoch, chosen by set_epoch."""

    def __init__(self, batches_per_epoch):
        self.batches, self.epoch, self.epochs_set = batches_per_epoch, None, []

    def set_epoch(self, epoch):
        self.epoch = epoch
        self.epochs_set.append(epoch)

    def __iter__(self):
        return iter(self.batches[self.epoch])


def test_recount_walks_the_training_batches_across_epochs():
    pad = 9
    packed = {"input_ids": torch.tensor([[1, 2, 3, 9], [1, 2, 9, 9]]), "attention_mask": torch.ones(2, 4, dtype=torch.long)}
    second = {"input_ids": torch.tensor([[1, 9, 9, 9]]), "attention_mask": torch.tensor([[1, 0, 0, 0]])}
    loader = _Loader({0: [packed, second], 1: [second, packed]})
    counts = bench.recount_batches(loader, pad, wanted=3)
    assert loader.epochs_set == [0, 1]
    assert counts["batches"] == 3
    assert counts["non_padding_tokens"] == 5 + 1 + 1
    assert counts["all_tokens"] == 8 + 4 + 4
    assert counts["lf_formula_tokens"] == 8 + 1 + 1  # LF's own count includes the padding inside packs
    with pytest.raises(ValueError):
        bench.recount_batches(_Loader({0: []}), pad, wanted=1)


def test_lf_dataset_info_points_at_the_same_file(tmp_path):
    source = tmp_path / "data"
    source.mkdir()
    (source / "sft.json").write_text("[]")
    entry = {"file_name": "sft.json", "formatting": "alpaca", "columns": {"prompt": "instruction"}, "file_sha1": "x"}
    (source / "dataset_info.json").write_text(json.dumps({"medical_sft": entry, "other": {"file_name": "o.json"}}))
    path = bench.write_dataset_info(tmp_path / "lf", source, "medical_sft")
    info = json.loads(path.read_text())
    assert list(info) == ["medical_sft"]
    assert info["medical_sft"]["file_name"] == str((source / "sft.json").resolve())
    assert info["medical_sft"]["columns"] == {"prompt": "instruction"} and "file_sha1" not in info["medical_sft"]


def test_results_are_read_from_each_frameworks_files(tmp_path):
    ours, lf = tmp_path / "ours", tmp_path / "lf"
    ours.mkdir(), lf.mkdir()
    (ours / "train_results.json").write_text(json.dumps({"train_runtime": 10.0, "num_input_tokens_seen": 2000}))
    (ours / "trainer_log.jsonl").write_text('{"loss": 9.0, "step": 5}\n{"loss": 8.5, "step": 10}\n')
    assert bench.read_ours(ours) == {"train_runtime": 10.0, "tokens": 2000, "loss": 8.5}
    (lf / "train_results.json").write_text(json.dumps({"train_runtime": 20.0}))
    (lf / "trainer_state.json").write_text(json.dumps({"num_input_tokens_seen": 4000, "log_history": [{"loss": 8.4}, {"train_loss": 8.6}]}))
    counts = {"non_padding_tokens": 3000, "all_tokens": 4100, "lf_formula_tokens": 4000}
    result = bench.read_lf(lf, counts)
    assert result["tokens"] == 3000 and result["lf_reported_tokens"] == 4000 and result["recount_matches_lf_batches"]
    assert result["loss"] == 8.4
    assert not bench.read_lf(lf, {**counts, "lf_formula_tokens": 3999})["recount_matches_lf_batches"]
    (lf / "trainer_state.json").write_text(json.dumps({"num_input_tokens_seen": -2**64, "log_history": []}))  # neat_packing
    assert bench.read_lf(lf, {**counts, "lf_formula_tokens": -2**64})["recount_matches_lf_batches"] is None
    (ours / "trainer_log.jsonl").unlink()  # fewer steps than logging_steps: no loss, still a run
    assert bench.read_ours(ours)["loss"] is None


def test_raw_runs_are_written_atomically(tmp_path):
    path = tmp_path / "saves" / "runs.json"
    bench.write_json_atomic(path, {"runs": [1]})
    bench.write_json_atomic(path, {"runs": [1, 2]})
    assert json.loads(path.read_text()) == {"runs": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["runs.json"]


def test_unknown_config_is_refused(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--configs", "lora,nope"])
    assert "nope" in capsys.readouterr().err
