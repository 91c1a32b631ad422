"""Preference data: LLaMA-Factory's layouts load unchanged, our template renders them token for token as SFT does,
bad pairs are named errors before any model loads, preview shows pairs, the arguments of each stage are checked,
and scripts/sample_data builds the project's own medical preference sample."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT
from run_helpers import cli

from llmtuner.data.pipeline import prepare_datasets
from llmtuner.data.preprocess import sft_batch
from llmtuner.data.template_registry import get_template
from llmtuner.extras.constants import IGNORE_INDEX
from llmtuner.extras.errors import ConfigError, DataError
from llmtuner.hparams import DataArguments, parse_train_args

SECRET = "王秘密"  # stands for sample text: it must never reach an error message
QUESTION = "我在吃阿司匹林，能同时喝丹参吗？"
CHOSEN, REJECTED = "不宜自行合用，可能增加出血风险，请先咨询医师。", "可以随便一起喝。"


def _write(folder, name, rows, entry):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    info_path = folder / "dataset_info.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    info[name] = {"file_name": f"{name}.json", **entry}
    info_path.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    return folder


def llamafactory_alpaca(folder, rows=None):
    """LLaMA-Factory's alpaca preference entry, written as its data/README shows it."""
    rows = rows or [{"instruction": f"{QUESTION}（{i}）", "input": "", "chosen": CHOSEN, "rejected": REJECTED} for i in range(6)]
    return _write(folder, "dpo_zh", rows, {"ranking": True, "columns": {"prompt": "instruction", "query": "input",
                                                                       "chosen": "chosen", "rejected": "rejected"}})


def llamafactory_sharegpt(folder):
    """LLaMA-Factory's dpo_en_demo layout: the conversation up to the question, chosen/rejected message objects."""
    rows = [{"conversations": [{"from": "human", "value": "头痛三天"}, {"from": "gpt", "value": "有发热吗？"},
                               {"from": "human", "value": f"没有发热{i}"}],
             "chosen": {"from": "gpt", "value": CHOSEN}, "rejected": {"from": "gpt", "value": REJECTED}} for i in range(4)]
    return _write(folder, "dpo_sharegpt", rows, {"formatting": "sharegpt", "ranking": True, "columns": {
        "messages": "conversations", "chosen": "chosen", "rejected": "rejected"}})


def openai_pairs(folder):
    rows = [{"messages": [{"role": "system", "content": "你是医生。"}, {"role": "user", "content": f"{QUESTION}{i}"}],
             "chosen": {"role": "assistant", "content": CHOSEN}, "rejected": {"role": "assistant", "content": REJECTED}}
            for i in range(4)]
    return _write(folder, "openai_pairs", rows, {"formatting": "sharegpt", "ranking": True, "columns": {
        "messages": "messages", "chosen": "chosen", "rejected": "rejected"}, "tags": {
        "role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant", "system_tag": "system"}})


def kto_unpaired(folder, rows=None):
    rows = rows or [{"instruction": f"{QUESTION}{i}", "output": CHOSEN if i % 2 else REJECTED, "kto_tag": bool(i % 2)}
                    for i in range(6)]
    return _write(folder, "kto_zh", rows, {"columns": {"prompt": "instruction", "response": "output", "kto_tag": "kto_tag"}})


@pytest.fixture
def template(tiny_tokenizer):
    template = get_template("shuzhiqihuang")
    template.fix_tokenizer(tiny_tokenizer)  # what the training workflow does before the data path runs
    return template


def prepare(folder, tokenizer, template, names, stage="dpo", **kwargs):
    args = DataArguments(dataset=names, dataset_dir=str(folder), template="shuzhiqihuang", cutoff_len=kwargs.pop("cutoff_len", 512),
                         **kwargs)
    return prepare_datasets(tokenizer, args, stage, template=template, cache_dir=str(folder / "cache"))


def test_llamafactory_ranking_dataset_loads_unchanged_and_renders_as_sft(tmp_path, tiny_tokenizer, template):
    prepared = prepare(llamafactory_alpaca(tmp_path), tiny_tokenizer, template, ["dpo_zh"])
    assert prepared.train.column_names == ["prompt_ids", "chosen_ids", "rejected_ids"] and len(prepared.train) == 6
    row = prepared.train[0]
    # token for token what SFT trains on for the conversation question + chosen: same ids, the prompt masked
    for answer, ids in ((CHOSEN, row["chosen_ids"]), (REJECTED, row["rejected_ids"])):
        messages = [[{"role": "user", "content": f"{QUESTION}（0）"}, {"role": "assistant", "content": answer}]]
        sft = sft_batch({"_messages": messages, "_system": [None]}, tiny_tokenizer, template, cutoff_len=512)
        assert row["prompt_ids"] + ids == sft["input_ids"][0]
        assert sft["labels"][0][: len(row["prompt_ids"])] == [IGNORE_INDEX] * len(row["prompt_ids"])
        assert sft["labels"][0][len(row["prompt_ids"]):] == ids
    assert tiny_tokenizer.decode(row["chosen_ids"]).endswith("<|im_end|>\n")  # the end-of-turn token is scored
    stats = prepared.stats["train"]
    assert (stats.samples, stats.kept, stats.truncated) == (6, 6, 0)


def test_sharegpt_and_openai_pairs_keep_history_and_system(tmp_path, tiny_tokenizer, template):
    llamafactory_sharegpt(tmp_path)
    openai_pairs(tmp_path)
    prepared = prepare(tmp_path, tiny_tokenizer, template, ["dpo_sharegpt", "openai_pairs"])
    assert len(prepared.train) == 8
    sharegpt, openai = prepared.train[0], prepared.train[4]
    history = template.encode_prompt(tiny_tokenizer, [{"role": "user", "content": "头痛三天"},
                                                      {"role": "assistant", "content": "有发热吗？"},
                                                      {"role": "user", "content": "没有发热0"}])
    assert sharegpt["prompt_ids"] == history  # the prompt is the generation prompt SFT's predict renders
    assert "你是医生。" in tiny_tokenizer.decode(openai["prompt_ids"])  # the sample's system turn replaces the default
    assert tiny_tokenizer.decode(openai["rejected_ids"]).startswith(REJECTED)


def test_kto_reads_unpaired_labels_and_splits_pairs(tmp_path, tiny_tokenizer, template):
    kto_unpaired(tmp_path)
    llamafactory_alpaca(tmp_path)
    prepared = prepare(tmp_path, tiny_tokenizer, template, ["kto_zh", "dpo_zh"], stage="kto")
    assert prepared.train.column_names == ["prompt_ids", "completion_ids", "label"]
    assert len(prepared.train) == 6 + 2 * 6  # each pair gives one desirable and one undesirable answer
    stats = prepared.stats["train"]
    assert (stats.desirable, stats.undesirable) == (9, 9)
    labels = prepared.train["label"]
    assert labels != sorted(labels) and labels[:6] != [True, False] * 3  # shuffled once: KTO reads batches in order


def _error(folder, tokenizer, template, names, stage="dpo"):
    with pytest.raises(DataError) as error:
        prepare(folder, tokenizer, template, names, stage=stage)
    assert SECRET not in str(error.value)
    return str(error.value)


def test_bad_pairs_are_named_with_dataset_file_index_and_field(tmp_path, tiny_tokenizer, template):
    rows = [{"instruction": f"{SECRET}{i}", "input": "", "chosen": CHOSEN, "rejected": REJECTED} for i in range(8)]
    rows[2]["chosen"] = "  "
    rows[4]["rejected"] = rows[4]["chosen"]
    rows[5]["rejected"] = rows[5]["chosen"]
    rows[6]["rejected"] = None
    message = _error(llamafactory_alpaca(tmp_path, rows), tiny_tokenizer, template, ["dpo_zh"])
    assert "Dataset 'dpo_zh'" in message and "dpo_zh.json" in message and "4 of 8 preference samples" in message
    assert "'chosen' empty (sample 2)" in message
    assert "'rejected' the same answer as chosen: nothing to prefer (samples 4, 5)" in message
    assert "'rejected' no value (sample 6)" in message
    assert CHOSEN not in message


def test_a_missing_column_and_the_wrong_kind_of_data_are_named(tmp_path, tiny_tokenizer, template):
    rows = [{"instruction": f"{SECRET}", "input": "", "chosen": CHOSEN, "worse": REJECTED}]
    message = _error(llamafactory_alpaca(tmp_path / "a", rows), tiny_tokenizer, template, ["dpo_zh"])
    assert "no column 'rejected' (rejected)" in message and "'worse'" in message  # the columns that are there
    sft = _write(tmp_path / "b", "sft", [{"instruction": "问", "output": "答"}], {})
    assert "holds no preferences for stage dpo" in _error(sft, tiny_tokenizer, template, ["sft"])
    assert "use stage kto" in _error(kto_unpaired(tmp_path / "c"), tiny_tokenizer, template, ["kto_zh"])
    rows = [{"instruction": f"{SECRET}", "output": "答", "kto_tag": "yes"}, {"instruction": "问", "output": "", "kto_tag": True}]
    message = _error(kto_unpaired(tmp_path / "d", rows), tiny_tokenizer, template, ["kto_zh"], stage="kto")
    assert "'kto_tag' kto_tag is not true/false (sample 0)" in message and "'output' empty (sample 1)" in message


def test_a_conversation_ending_with_an_answer_is_no_ranking_sample(tmp_path, tiny_tokenizer, template):
    rows = [{"conversations": [{"from": "human", "value": SECRET}, {"from": "gpt", "value": "答"}],
             "chosen": {"from": "gpt", "value": CHOSEN}, "rejected": {"from": "gpt", "value": REJECTED}}]
    folder = _write(tmp_path, "bad", rows, {"formatting": "sharegpt", "ranking": True})
    assert "does not end with the user's turn" in _error(folder, tiny_tokenizer, template, ["bad"])


def test_a_file_with_chosen_and_rejected_given_as_a_path_is_read_as_pairs(tmp_path, tiny_tokenizer, template):
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps({"instruction": f"问{i}", "chosen": CHOSEN, "rejected": REJECTED}, ensure_ascii=False)
                              for i in range(3)), encoding="utf-8")
    prepared = prepare(tmp_path, tiny_tokenizer, template, [str(path)])
    assert len(prepared.train) == 3


def test_long_pairs_keep_their_answers_budget(tmp_path, tiny_tokenizer, template):
    rows = [{"instruction": "头痛" * 200, "input": "", "chosen": CHOSEN, "rejected": REJECTED}]
    prepared = prepare(llamafactory_alpaca(tmp_path, rows), tiny_tokenizer, template, ["dpo_zh"], cutoff_len=64)
    row = prepared.train[0]
    assert prepared.stats["train"].truncated == 1
    assert len(row["prompt_ids"]) + len(row["chosen_ids"]) <= 64 and len(row["prompt_ids"]) + len(row["rejected_ids"]) <= 64
    assert row["chosen_ids"][-2:] == template.encode_turns(tiny_tokenizer, [{"role": "user", "content": "问"},
                                                                            {"role": "assistant", "content": CHOSEN}])[0][1][-2:]


def test_data_errors_come_before_the_model_loads(tmp_path, tiny_model_dir):
    rows = [{"instruction": SECRET, "input": "", "chosen": CHOSEN, "rejected": CHOSEN}]
    folder = llamafactory_alpaca(tmp_path / "data", rows)
    result = cli("train", ["--model_name_or_path", "embedded", "--stage", "dpo", "--template", "shuzhiqihuang",
                           "--dataset", "dpo_zh", "--dataset_dir", str(folder), "--output_dir", str(tmp_path / "out")])
    assert result.returncode == 2, result.stderr[-3000:]
    assert "nothing to prefer (sample 0)" in result.stderr and "Traceback" not in result.stderr
    assert "Trainable parameters" not in result.stderr and SECRET not in result.stderr + result.stdout


def test_preview_shows_prompt_chosen_and_rejected_with_lengths(tmp_path, tiny_model_dir):
    folder = llamafactory_alpaca(tmp_path / "data")
    result = cli("preview", ["--model_name_or_path", "embedded", "--stage", "dpo", "--template", "shuzhiqihuang",
                             "--dataset", "dpo_zh", "--dataset_dir", str(folder), "--preview_samples", "1"])
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "=== train pair 0: prompt" in out and "--- chosen (" in out and "--- rejected (" in out
    assert "⟦" in out and f"⟧{CHOSEN}" in out and f"⟧{REJECTED}" in out  # the prompt masked, the answers after it
    assert "pairs: 6, kept: 6" in out and "median tokens: prompt" in out


BASE = ["--model_name_or_path", "embedded", "--template", "shuzhiqihuang", "--dataset", "d", "--output_dir", "o"]


@pytest.mark.parametrize(("argv", "expected"), [
    (["--stage", "sft", "--pref_beta", "0.2"], "pref_beta=0.2 is read by stage dpo and kto and orpo and simpo only"),
    (["--stage", "dpo", "--simpo_gamma", "1.0"], "simpo_gamma=1.0 is read by stage simpo only"),
    (["--stage", "orpo", "--pref_precompute_ref", "true"], "pref_precompute_ref=True is read by stage dpo and kto only"),
    (["--stage", "kto", "--pref_loss", "ipo"], "pref_loss='ipo' is read by stage dpo only"),
    (["--stage", "dpo", "--packing", "true"], "preference pairs are batched padded"),
    (["--stage", "dpo", "--pref_loss", "exo_pair"], "exo_pair needs pref_label_smoothing > 0"),
    (["--stage", "kto", "--per_device_train_batch_size", "1"], "per_device_train_batch_size must be at least 2"),
    (["--stage", "dpo", "--pref_beta", "0"], "pref_beta must be greater than 0"),
    (["--stage", "rm", "--deepspeed", str(ROOT / "configs" / "ds_z3.json")], "use a ZeRO-2 config"),
], ids=["beta-sft", "gamma-dpo", "precompute-orpo", "loss-kto", "packing", "exo", "kto-batch", "beta-0", "rm-zero3"])
def test_stage_knobs_are_checked(argv, expected):
    with pytest.raises(ConfigError, match="Invalid configuration") as error:
        parse_train_args([*BASE, *argv])
    assert expected in str(error.value)


def test_preference_stages_need_a_template():
    with pytest.raises(ConfigError, match="stage dpo needs a chat template"):
        parse_train_args(["--model_name_or_path", "m", "--stage", "dpo", "--dataset", "d", "--output_dir", "o"])
    config = parse_train_args([*BASE, "--stage", "simpo", "--pref_ftx", "0.5", "--simpo_gamma", "1.0"])
    assert config.finetuning.stage == "simpo" and config.finetuning.pref_ftx == 0.5


def test_the_sample_builder_reproduces_the_preference_files(tmp_path):
    scripts = ROOT / "scripts" / "sample_data"
    result = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(scripts)!r}); import build; "
                             f"build.main({str(tmp_path)!r})"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("medical_preference_sample.json", "medical_kto_sample.json", "dataset_info.json"):
        assert (tmp_path / name).read_bytes() == (ROOT / "data" / name).read_bytes(), name
    pairs = json.loads((ROOT / "data" / "medical_preference_sample.json").read_text(encoding="utf-8"))
    assert 60 <= len(pairs) <= 120
    assert {pair["category"] for pair in pairs} == {"herb_pairing", "pregnancy", "drug_interaction", "emergency", "caution"}
    emergency = [pair for pair in pairs if pair["category"] == "emergency"]
    assert all("120" in pair["chosen"] and "120" not in pair["rejected"] for pair in emergency)


def test_the_medical_samples_load_for_dpo_and_kto(tiny_tokenizer, template, tmp_path):
    pairs = prepare_datasets(tiny_tokenizer, DataArguments(dataset=["medical_preference_sample"], dataset_dir=str(ROOT / "data"),
                                                          template="shuzhiqihuang", cutoff_len=512), "dpo", template=template,
                             cache_dir=str(tmp_path))
    unpaired = prepare_datasets(tiny_tokenizer, DataArguments(dataset=["medical_kto_sample"], dataset_dir=str(ROOT / "data"),
                                                             template="shuzhiqihuang", cutoff_len=512), "kto", template=template,
                                cache_dir=str(tmp_path))
    assert pairs.stats["train"].kept == len(unpaired.train) == pairs.stats["train"].samples
    assert pairs.stats["train"].truncated == 0


def test_sft_on_preference_pairs_is_refused_by_name_before_anything_loads(capsys, tmp_path):
    from conftest import ROOT

    from llmtuner.cli import main

    argv = ["train", "--model_name_or_path", "embedded", "--stage", "sft", "--template", "shuzhiqihuang",
            "--dataset", "medical_preference_sample", "--dataset_dir", str(ROOT / "data"), "--output_dir", str(tmp_path / "out")]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "'medical_preference_sample' holds preference pairs" in error and "stage dpo" in error
