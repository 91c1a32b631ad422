"""`llmtuner export`: merged releases compute what base + adapters compute, load on their own, and publish atomically."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, shared_path

from llmtuner.data.template_registry import get_template
from llmtuner.extras.errors import ConfigError
from llmtuner.hparams import parse_export_args

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
NEW_TOKENS = ["黄芪建中汤", "龟鹿二仙胶", "桂枝茯苓丸"]  # none is a token of the tiny vocabulary
METRICS = {
    "task": "qa", "samples": 5,
    "overall": {"rouge-l": 41.25, "bleu-4": 20.5, "term_recall": 0.61},
    "by_category": {"中医": {"rouge-l": 40.0, "bleu-4": 19.0}, "西医": {"rouge-l": 42.5, "bleu-4": 22.0}},
    "run": {"model": "base", "eval_dataset": "tcm_qa"},
}


def export(base: Path, out: Path, adapters: list[Path] | None = None, template: str = "shuzhiqihuang", **options) -> Path:
    from llmtuner.export import run_export

    argv = ["--model_name_or_path", str(base), "--template", template, "--export_dir", str(out)]
    if adapters:
        argv += ["--adapter_name_or_path", ",".join(map(str, adapters))]
    for key, value in options.items():
        argv += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return run_export(parse_export_args(argv))


def make_adapter(model, out: Path, dora: bool = False, seed: int = 0, **config) -> Path:
    """A LoRA/DoRA adapter on `model` whose weights are random, so it visibly changes the logits."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    peft_model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, target_modules=TARGETS,
                                                  use_dora=dora, **config))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name or "modules_to_save" in name or "lora_magnitude" in name:
                param.add_(0.05 * torch.randn_like(param))
    peft_model.save_pretrained(str(out))
    return out


def base_model(path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path)).eval()


def logits(model, ids: list[int]):
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


def prompt_ids(tokenizer) -> list[int]:
    return get_template("shuzhiqihuang").encode_prompt(tokenizer, [{"role": "user", "content": "黄芪有什么功效？"}])


def leftovers(folder: Path) -> list[str]:
    """Hidden staging / old-release folders an export left next to its target."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and (".export-" in p.name or ".old-" in p.name
                                                                                 or ".merged-" in p.name))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Two OpenMP threads on a shared 2-core machine spin against other processes: 10-20x slower exports."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("eval")
    (folder / "metrics.json").write_text(json.dumps(METRICS, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def lora_adapter(tiny_model_dir, tmp_path_factory) -> Path:
    return make_adapter(base_model(tiny_model_dir), tmp_path_factory.mktemp("adapters") / "lora")


@pytest.fixture(scope="module")
def release(tiny_model_dir, lora_adapter, eval_dir, tmp_path_factory) -> Path:
    """One fp32 release, sharded small, with datasets and an evaluation report: read by several tests."""
    return export(tiny_model_dir, tmp_path_factory.mktemp("releases") / "tiny-tcm", [lora_adapter],
                  export_size=0.005, dataset="tcm_qa,cmedqa", eval_report=eval_dir)


@pytest.mark.parametrize("kind", ["lora", "dora", "lora+dora"])
def test_merged_logits_equal_base_plus_adapters(kind, tiny_model_dir, tiny_tokenizer, tmp_path):
    from peft import PeftModel

    adapters = [make_adapter(base_model(tiny_model_dir), tmp_path / "a", dora=kind == "dora")]
    if kind == "lora+dora":  # the second adapter trains on the base with the first merged in, as training stacks them
        merged_first = PeftModel.from_pretrained(base_model(tiny_model_dir), str(adapters[0])).merge_and_unload()
        adapters.append(make_adapter(merged_first, tmp_path / "b", dora=True, seed=1))
    reference = base_model(tiny_model_dir)
    for adapter in adapters[:-1]:
        reference = PeftModel.from_pretrained(reference, str(adapter)).merge_and_unload()
    reference = PeftModel.from_pretrained(reference, str(adapters[-1])).eval()

    out = export(tiny_model_dir, tmp_path / "release", adapters)
    merged = base_model(out)
    ids = prompt_ids(tiny_tokenizer)
    expected, got = logits(reference, ids), logits(merged, ids)
    assert (expected - logits(base_model(tiny_model_dir), ids)).abs().max() > 0.05  # the adapters matter
    assert (got - expected).abs().max() < 1e-5
    info = json.loads((out / "export_info.json").read_text(encoding="utf-8"))
    assert [a["type"] for a in info["adapters"]] == {"lora": ["LoRA"], "dora": ["DoRA"], "lora+dora": ["LoRA", "DoRA"]}[kind]
    assert all(a["merge_check"]["max_abs_diff"] < 1e-4 for a in info["adapters"])


def test_expanded_vocabulary(tiny_model_dir, tmp_path):
    """Embeddings resized (unpadded, unlike the 64-row padding the loader adds) and trained through modules_to_save."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    assert tokenizer.add_tokens(NEW_TOKENS) == len(NEW_TOKENS)
    model = base_model(tiny_model_dir)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    adapter = make_adapter(model, tmp_path / "adapter", modules_to_save=["embed_tokens", "lm_head"], ensure_weight_tying=True)
    tokenizer.save_pretrained(str(adapter))  # the trainer saves the tokenizer beside the adapter

    out = export(tiny_model_dir, tmp_path / "release", [adapter])
    reloaded_tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert len(reloaded_tokenizer) == len(tokenizer) == 8000 + len(NEW_TOKENS)
    merged = base_model(out)
    assert merged.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert merged.lm_head.weight is merged.model.embed_tokens.weight  # still tied
    ids = prompt_ids(reloaded_tokenizer) + reloaded_tokenizer.encode("".join(NEW_TOKENS), add_special_tokens=False)
    assert ids[-len(NEW_TOKENS):] == list(range(8000, 8000 + len(NEW_TOKENS)))
    resized = base_model(tiny_model_dir)
    resized.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    reference = PeftModel.from_pretrained(resized, str(adapter)).eval()
    assert (logits(merged, ids) - logits(reference, ids)).abs().max() < 1e-5


def test_release_is_sharded_and_reloads(release, tiny_tokenizer):
    shards = sorted(release.glob("model-*.safetensors"))
    index = json.loads((release / "model.safetensors.index.json").read_text(encoding="utf-8"))
    assert len(shards) >= 3 and set(index["weight_map"].values()) == {p.name for p in shards}
    assert not (release / "model.safetensors").exists()
    umask = os.umask(0)
    os.umask(umask)
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~umask for p in shards)  # not safetensors' 0600: a server may run as another user
    assert logits(base_model(release), prompt_ids(tiny_tokenizer)).isfinite().all()


def test_chat_template_round_trip(release):
    from transformers import AutoTokenizer

    from llmtuner.export.chat_template import PROBE_CONVERSATIONS

    tokenizer = AutoTokenizer.from_pretrained(str(release))
    config = json.loads((release / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["chat_template"] == tokenizer.chat_template  # also for readers of tokenizer_config.json only
    assert tokenizer.padding_side == "left"  # a release generates
    template = get_template("shuzhiqihuang")
    for conversation in PROBE_CONVERSATIONS:
        for system in (None, "你是一名中医内科医生。"):
            head = [{"role": "system", "content": system}] if system else []
            turns = template.encode_turns(tokenizer, conversation, system=system)
            full = tokenizer.apply_chat_template(head + list(conversation), tokenize=True, return_dict=False)
            assert list(full) == [i for prompt, response in turns for i in prompt + response]
            prompt = tokenizer.apply_chat_template(head + list(conversation[:-1]), tokenize=True, return_dict=False,
                                                   add_generation_prompt=True)
            assert list(prompt) == template.encode_prompt(tokenizer, conversation[:-1], system=system)


@pytest.mark.parametrize("family,folder", [("qwen", None), ("default", None), ("qwen", "qwen2.5"), ("qwen3", "qwen3"),
                                           ("llama3", "llama3"), ("llama3.1", "llama3"), ("qwen2", "qwen2.5")])
def test_generated_chat_template_matches_training(family, folder, tiny_model_dir):
    """The template written when the tokenizer's own disagrees (other system prompt, other family, none)."""
    from transformers import AutoTokenizer

    from llmtuner.export.chat_template import parity_failures, render_jinja

    tokenizer = AutoTokenizer.from_pretrained(str(shared_path("assets", folder) if folder else tiny_model_dir))
    template = get_template(family)
    template.fix_tokenizer(tokenizer)
    assert parity_failures(tokenizer, template, render_jinja(template)) == []


def test_generation_config_stops_on_template_stop_words(release):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(release))
    config = json.loads((release / "generation_config.json").read_text(encoding="utf-8"))
    stops = get_template("shuzhiqihuang").stop_token_ids(tokenizer)
    assert set(stops) <= set(config["eos_token_id"]) and config["eos_token_id"][0] == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer.eos_token == "<|im_end|>" and config["pad_token_id"] == tokenizer.pad_token_id


def test_model_card(release, lora_adapter):
    card = (release / "README.md").read_text(encoding="utf-8")
    for expected in ("base_model: tiny-shuzhiqihuang", lora_adapter.name, "tcm_qa, cmedqa", "| 8 | 16 |",
                     "不是医疗器械", "not a medical device", "licensed", "## 评测 / Evaluation", "| rouge-l | 41.25 |",
                     "中医", "vllm serve tiny-tcm", "## 导出校验 / Export verification"):
        assert expected in card, expected


def test_failed_export_publishes_nothing(tiny_model_dir, lora_adapter, tmp_path, monkeypatch):
    """A failure after the weights are written (verification) leaves no release and no temporary folder."""
    import llmtuner.export.workflow as workflow

    def broken(*args, **kwargs):
        raise RuntimeError("simulated crash while verifying")

    monkeypatch.setattr(workflow, "reload_and_generate", broken)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export(tiny_model_dir, tmp_path / "new", [lora_adapter])
    assert not (tmp_path / "new").exists() and leftovers(tmp_path) == []

    old = tmp_path / "old"
    old.mkdir()
    (old / "README.md").write_text("previous release", encoding="utf-8")
    (old / "export_info.json").write_text("{}", encoding="utf-8")  # what marks an earlier release
    with pytest.raises(RuntimeError, match="simulated crash"):
        export(tiny_model_dir, old, [lora_adapter], overwrite=True)
    assert sorted(p.name for p in old.iterdir()) == ["README.md", "export_info.json"] and leftovers(tmp_path) == []


def test_merge_above_tolerance_fails(tiny_model_dir, lora_adapter, tmp_path):
    from llmtuner.export.verify import VerificationError

    with pytest.raises(VerificationError, match="Nothing was written"):
        export(tiny_model_dir, tmp_path / "out", [lora_adapter], verify_tolerance=1e-12)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_then_replaces(tiny_model_dir, lora_adapter, tmp_path):
    out = tmp_path / "release"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match="--overwrite"):
        export(tiny_model_dir, out, [lora_adapter])
    with pytest.raises(ConfigError, match="not a release of this project"):  # --overwrite never deletes a user's folder
        export(tiny_model_dir, out, [lora_adapter], overwrite=True, skip_verify=True)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    release = tmp_path / "release2"
    export(tiny_model_dir, release, [lora_adapter], skip_verify=True)
    stale = tmp_path / ".release2.export-deadbeef"  # what a killed export leaves beside its target
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"partial")
    export(tiny_model_dir, release, [lora_adapter], overwrite=True, skip_verify=True)  # an earlier release is replaced
    assert (release / "config.json").is_file() and (release / "export_info.json").is_file() and not stale.exists()
    assert leftovers(tmp_path) == []
    assert "Verification was skipped" in (release / "README.md").read_text(encoding="utf-8")


def test_errors_before_any_weights_load(tiny_model_dir, lora_adapter, tmp_path, monkeypatch, caplog):
    import llmtuner.export.workflow as workflow

    def no_weights(*args, **kwargs):
        raise AssertionError("weights were loaded before the arguments were checked")

    monkeypatch.setattr(workflow, "load_base", no_weights)
    out = tmp_path / "out"
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ([tmp_path / "missing"], {}, "does not exist"),
        ([empty], {}, "no adapter_config.json"),
        ([lora_adapter], {"template": "qwen4"}, "Unknown template 'qwen4'"),
        ([lora_adapter], {"export_dir_override": lora_adapter / "merged"}, "inside the adapter folder"),
        ([lora_adapter], {"eval_report": empty}, "no metrics.json"),
    ]
    for adapters, options, message in cases:
        target = options.pop("export_dir_override", out)
        with pytest.raises(ConfigError, match=message):
            export(tiny_model_dir, target, adapters, **options)

    with pytest.raises(ConfigError, match="export_dtype"):
        parse_export_args(["--model_name_or_path", "embedded", "--template", "qwen", "--export_dir", "x", "--dtype", "bf16"])
    assert parse_export_args(["--model_name_or_path", "m", "--adapter_name_or_path", "a", "--template", "qwen",
                              "--export_dir", "x", "--finetuning_type", "qlora"]).model.quantization_bit == 4

    # a different base path is only a warning (paths differ across machines)
    other = tmp_path / "other_adapter"
    other.mkdir()
    config = json.loads((lora_adapter / "adapter_config.json").read_text(encoding="utf-8"))
    (other / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "/elsewhere/Qwen2.5-7B"}))
    (other / "adapter_model.safetensors").write_bytes((lora_adapter / "adapter_model.safetensors").read_bytes())
    with pytest.raises(AssertionError, match="weights were loaded"):
        export(tiny_model_dir, out, [other])
    assert "was trained on '/elsewhere/Qwen2.5-7B'" in caplog.text


def test_adapter_of_another_shape_is_a_clear_error(tiny_model_dir, tmp_path):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    small = Qwen2ForCausalLM(Qwen2Config(vocab_size=8000, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                                         num_attention_heads=4, num_key_value_heads=2))
    adapter = make_adapter(small, tmp_path / "adapter")
    with pytest.raises(ConfigError, match="does not fit the base"):
        export(tiny_model_dir, tmp_path / "out", [adapter])
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_4bit_release(tiny_model_dir, lora_adapter, tmp_path):
    """bitsandbytes' CPU backend quantises and serialises 4-bit weights; the release reloads quantised and generates."""
    import torch
    from transformers import AutoTokenizer

    from llmtuner.export.verify import reload_and_generate

    out = export(tiny_model_dir, tmp_path / "q4", [lora_adapter], export_quantization_bit=4)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["quantization_config"]["load_in_4bit"] is True
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    model, _, (result,), generated = reload_and_generate(out, [prompt_ids(tokenizer)], trust_remote_code=False)
    assert any(type(m).__name__ == "Linear4bit" for m in model.modules())
    assert torch.isfinite(result).all() and len(generated) > 0
    assert leftovers(tmp_path) == []


def test_cli_end_to_end(tmp_path, eval_dir):
    """Train a tiny SFT LoRA adapter, export it in bf16 with `python src/export_model.py CONFIG --flags`, reload, generate."""
    import torch
    from run_helpers import child_env, sft_args, train, write_qa_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = tmp_path / "adapter"
    train(sft_args(write_qa_dataset(tmp_path / "data"), adapter, max_steps=3))
    config = tmp_path / "export.yaml"
    config.write_text("model_name_or_path: embedded\ntemplate: shuzhiqihuang\nfinetuning_type: lora\n", encoding="utf-8")
    out = tmp_path / "release"
    result = subprocess.run(
        [sys.executable, str(ROOT / "src" / "export_model.py"), str(config), "--adapter_name_or_path", str(adapter),
         "--export_dir", str(out), "--export_dtype", "bf16", "--eval_report", str(eval_dir)],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Verify merged model vs base + adapter: max |logit diff|" in result.stderr
    assert "Verify bf16 release vs fp32 base + adapters" in result.stderr

    tokenizer = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out), dtype="auto")
    assert next(model.parameters()).dtype == torch.bfloat16
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "黄芪有什么功效？"}], add_generation_prompt=True,
                                           return_dict=True, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert output.shape[1] == inputs["input_ids"].shape[1] + 4
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| learning_rate | 0.001 |" in card and "| max_steps | 3 |" in card and "train_loss" in card
    assert "| 训练数据 / Datasets | qa |" in card  # recorded by training in llmtuner_args.json, not passed here
    record = json.loads((adapter / "llmtuner_args.json").read_text(encoding="utf-8"))
    assert record["finetuning"]["finetuning_type"] == "lora" and record["model"]["quantization_bit"] is None

    # an adapter whose run record says QLoRA is merged into the unquantised base, and the plan says so
    from llmtuner.export.preflight import plan_export

    record["model"]["quantization_bit"] = 4
    (adapter / "llmtuner_args.json").write_text(json.dumps(record), encoding="utf-8")
    plan = plan_export(parse_export_args(["--model_name_or_path", "embedded", "--adapter_name_or_path", str(adapter),
                                          "--template", "shuzhiqihuang", "--export_dir", str(tmp_path / "release2")]))
    assert plan.qlora and plan.merge_dtype == "fp32" and plan.datasets == "qa"


def test_template_defaults_to_the_recorded_one_and_another_is_refused(tiny_model_dir, lora_adapter, tmp_path):
    """A release must get the chat format its adapter was trained with (llmtuner_args.json records it)."""
    import shutil

    from llmtuner.export.preflight import plan_export

    adapter = tmp_path / "recorded"
    shutil.copytree(lora_adapter, adapter)
    record = {"data": {"template": "qwen2.5", "default_system": "你是中医助手。"}}  # an alias of qwen
    (adapter / "llmtuner_args.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")

    def plan(*flags):
        return plan_export(parse_export_args(["--model_name_or_path", str(tiny_model_dir), "--adapter_name_or_path",
                                              str(adapter), "--export_dir", str(tmp_path / "out"), *flags]))

    recorded = plan().template
    assert recorded.name == "qwen" and recorded.default_system == "你是中医助手。"
    assert plan("--template", "qwen").template.default_system == "你是中医助手。"  # the same family under its name
    with pytest.raises(ConfigError, match="template 'shuzhiqihuang' differs from 'qwen2.5'.*force_template"):
        plan("--template", "shuzhiqihuang")
    with pytest.raises(ConfigError, match="default_system differs"):
        plan("--default_system", "You are a helpful assistant.")
    forced = plan("--template", "shuzhiqihuang", "--force_template").template
    assert forced.name == "shuzhiqihuang" and forced.default_system == get_template("shuzhiqihuang").default_system
    (adapter / "llmtuner_args.json").unlink()
    with pytest.raises(ConfigError, match="template is missing and no adapter records one"):
        plan()


def test_recorded_template_date_goes_into_the_release(tmp_path):
    """llama3.1 trained with another "Today Date" (template_date_string): the release's template writes that date."""
    from types import SimpleNamespace

    from llmtuner.export.chat_template import render_jinja
    from llmtuner.export.preflight import release_template

    record = {"data": {"template": "llama3.1", "template_date_string": "01 Mar 2025"}}
    (tmp_path / "llmtuner_args.json").write_text(json.dumps(record), encoding="utf-8")
    export = SimpleNamespace(template=None, default_system=None, force_template=False)
    template = release_template(export, [SimpleNamespace(path=tmp_path)])
    assert template.name == "llama3.1" and template.date_string == "01 Mar 2025"
    assert "Today Date: 01 Mar 2025" in render_jinja(template) and "26 Jul 2024" not in render_jinja(template)


def test_verification_logs_no_generated_text_at_info(tiny_model_dir, lora_adapter, tmp_path, monkeypatch):
    """The reload check generates a few tokens; INFO (what a run's log keeps) says how many, never what they say."""
    import logging

    import llmtuner.export.workflow as workflow

    generated: list[str] = []
    real = workflow.reload_and_generate

    def recording(folder, *args, **kwargs):
        model, tokenizer, logits_, ids = real(folder, *args, **kwargs)
        generated.append(tokenizer.decode(ids, skip_special_tokens=False))
        return model, tokenizer, logits_, ids

    monkeypatch.setattr(workflow, "reload_and_generate", recording)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    package = logging.getLogger("llmtuner")  # does not propagate to caplog
    package.addHandler(handler)
    try:
        export(tiny_model_dir, tmp_path / "release", [lora_adapter])
    finally:
        package.removeHandler(handler)
    [text] = generated
    assert text.strip(), "the reloaded release generated only blanks: the check below would prove nothing"
    info = [record.getMessage() for record in records if record.levelno >= logging.INFO]
    for line in info:
        assert text not in line and repr(text) not in line and text.strip() not in line, line
    assert any("Verify reload: AutoModelForCausalLM generated 8 tokens." in line for line in info), info
