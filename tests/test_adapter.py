"""Each finetuning type trains exactly the parameters it promises, and bad module names list valid ones."""

from types import SimpleNamespace

import pytest

from llmtuner.extras.errors import ConfigError
from llmtuner.hparams import FinetuningArguments, ModelArguments
from llmtuner.model.adapter import init_adapter, linear_module_names


def load(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)


def changed_after_one_step(model):
    """Names of parameters that one AdamW step on a dummy batch actually changes."""
    import torch

    torch.manual_seed(0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(10, 500, (2, 16))
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}


def test_lora_trains_only_adapters(tiny_model_dir):
    model = init_adapter(load(tiny_model_dir), ModelArguments(), FinetuningArguments(finetuning_type="lora", lora_alpha=16), True)
    changed = changed_after_one_step(model)
    assert changed and all("lora_" in name for name in changed)
    targeted = {name.split(".lora_")[0].split(".")[-1] for name in changed}
    assert targeted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}  # `all`, head excluded


def test_lora_named_targets_and_additional_target(tiny_model_dir):
    args = FinetuningArguments(finetuning_type="lora", lora_alpha=16, lora_target=["q_proj", "v_proj"], additional_target=["embed_tokens"])
    changed = changed_after_one_step(init_adapter(load(tiny_model_dir), ModelArguments(), args, True))
    assert {n for n in changed if "lora_" in n} and all(("q_proj" in n or "v_proj" in n) for n in changed if "lora_" in n)
    assert any("embed_tokens" in n and "modules_to_save" in n for n in changed)


def test_lora_wrong_target_lists_valid_names(tiny_model_dir):
    args = FinetuningArguments(finetuning_type="lora", lora_alpha=16, lora_target=["query_key_value"])
    with pytest.raises(ConfigError, match="query_key_value not found.*Valid names: down_proj, gate_proj, k_proj"):
        init_adapter(load(tiny_model_dir), ModelArguments(), args, True)


def test_freeze_trains_last_layers_only(tiny_model_dir):
    args = FinetuningArguments(finetuning_type="freeze", freeze_trainable_layers=1)
    model = init_adapter(load(tiny_model_dir), ModelArguments(), args, True)
    last = model.config.num_hidden_layers - 1
    changed = changed_after_one_step(model)
    assert changed and all(f"layers.{last}." in name for name in changed)


def test_freeze_named_modules_and_wrong_name(tiny_model_dir):
    args = FinetuningArguments(finetuning_type="freeze", freeze_trainable_layers=2, freeze_trainable_modules=["mlp"])
    changed = changed_after_one_step(init_adapter(load(tiny_model_dir), ModelArguments(), args, True))
    assert changed and all(".mlp." in name for name in changed)
    bad = FinetuningArguments(finetuning_type="freeze", freeze_trainable_modules=["ffn"])
    with pytest.raises(ConfigError, match="ffn not found.*Valid names:.*mlp.*self_attn"):
        init_adapter(load(tiny_model_dir), ModelArguments(), bad, True)


def test_full_trains_everything(tiny_model_dir):
    model = init_adapter(load(tiny_model_dir), ModelArguments(), FinetuningArguments(finetuning_type="full"), True)
    changed = changed_after_one_step(model)
    assert changed == {n for n, _ in model.named_parameters()}


def test_linear_names_exclude_the_head(tiny_model_dir):
    assert "lm_head" not in linear_module_names(load(tiny_model_dir))


def test_trainable_parameters_upcast_to_fp32_except_under_zero3(tiny_model_dir):
    """Half-precision trainable weights train in fp32; under ZeRO-3 DeepSpeed owns the shards and the dtype."""
    import torch
    from transformers import AutoModelForCausalLM

    for zero3, expected in ((False, torch.float32), (True, torch.bfloat16)):
        model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.bfloat16)
        model = init_adapter(model, ModelArguments(), FinetuningArguments(finetuning_type="freeze", freeze_trainable_layers=1),
                             True, zero3=zero3)
        trainable = [p for p in model.parameters() if p.requires_grad]
        assert trainable and {p.dtype for p in trainable} == {expected}
        assert {p.dtype for p in model.parameters() if not p.requires_grad} == {torch.bfloat16}


# --- vocabulary expansion: resized embeddings train, and the saved adapter reproduces the model ---------------

NEW_TOKENS = ["补中益气汤加减", "龟鹿二仙胶", "桑螵蛸散", "金锁固精丸"]


def expanded_setup(tiny_model_dir, finetuning_type="lora", **finetuning):
    """The tiny model loaded the way training does, with a tokenizer that has 4 more tokens than embedding rows."""
    from llmtuner.model.loader import load_model, load_tokenizer

    model_args = ModelArguments(model_name_or_path=str(tiny_model_dir), dtype="float32")
    tokenizer = load_tokenizer(model_args)
    base_size = len(tokenizer)
    assert tokenizer.add_tokens(NEW_TOKENS) == len(NEW_TOKENS)
    model, resized = load_model(model_args, tokenizer, is_trainable=True)
    assert resized and not model_args.resize_vocab  # load_model says so and leaves the arguments alone
    args = FinetuningArguments(finetuning_type=finetuning_type, lora_alpha=16, **finetuning)
    return model_args, tokenizer, init_adapter(model, model_args, args, True, vocab_changed=resized), base_size


def step_on_new_tokens(model, tokenizer):
    """One AdamW step on text that uses the new tokens."""
    import torch

    torch.manual_seed(0)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.tensor([tokenizer("患者服用补中益气汤加减，后改龟鹿二仙胶与金锁固精丸。", add_special_tokens=False)["input_ids"]])
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    return ids


def test_expanded_vocab_lora_trains_embeddings_and_reloads(tiny_model_dir, tmp_path):
    import torch
    from peft import PeftModel

    from llmtuner.model.loader import load_model

    model_args, tokenizer, model, base_size = expanded_setup(tiny_model_dir, lora_target=["q_proj", "v_proj"])
    rows = model.get_input_embeddings().weight.shape[0]
    assert rows >= len(tokenizer) and rows % 64 == 0
    config = model.peft_config["default"]
    assert "model.embed_tokens" in config.modules_to_save and config.ensure_weight_tying  # the tiny model ties them
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("embed_tokens.modules_to_save" in n for n in trainable)
    assert all("lora_" in n or "modules_to_save" in n for n in trainable)
    embedding = model.get_input_embeddings().modules_to_save["default"].weight
    assert model.get_output_embeddings().modules_to_save["default"].weight is embedding  # still tied
    before = embedding.detach().clone()
    ids = step_on_new_tokens(model, tokenizer)
    new_rows = sorted({i for i in ids[0].tolist() if i >= base_size})
    assert len(new_rows) == 3 and all(not torch.equal(before[i], embedding[i].detach()) for i in new_rows)

    model.eval()
    with torch.no_grad():
        expected = model(input_ids=ids).logits
    model.save_pretrained(str(tmp_path / "adapter"))
    fresh_args = ModelArguments(model_name_or_path=str(tiny_model_dir), dtype="float32")
    fresh, _ = load_model(fresh_args, tokenizer, is_trainable=False)  # resized to the tokenizer again
    reloaded = PeftModel.from_pretrained(fresh, str(tmp_path / "adapter"))
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=ids).logits, expected, atol=1e-5)


@pytest.mark.parametrize("trainer_module", ["pt", "sft"])
def test_trainer_saves_expanded_vocab_adapter_once(tiny_model_dir, tmp_path, trainer_module):
    """The trainers write the trained embeddings and lm_head, not peft's extra copies of the resized base."""
    import importlib

    import torch
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import Seq2SeqTrainingArguments

    from llmtuner.model.loader import load_model

    trainer_class = {"pt": "PTTrainer", "sft": "SFTTrainer"}[trainer_module]
    trainer_type = getattr(importlib.import_module(f"llmtuner.train.{trainer_module}.trainer"), trainer_class)
    _, tokenizer, model, _ = expanded_setup(tiny_model_dir, lora_target=["q_proj", "v_proj"])
    ids = step_on_new_tokens(model, tokenizer)
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=ids).logits
    trainer = trainer_type(model=model, args=Seq2SeqTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[]),
                           processing_class=tokenizer)
    trainer.save_model(str(tmp_path / "adapter"))
    saved = tmp_path / "adapter" / "adapter_model.safetensors"
    with safe_open(str(saved), framework="pt") as handle:
        keys = list(handle.keys())
    full = [key for key in keys if "lora_" not in key]
    assert sorted(full) == ["base_model.model.lm_head.weight", "base_model.model.model.embed_tokens.weight"]
    rows, width = model.get_input_embeddings().weight.shape
    assert saved.stat().st_size < 2.2 * rows * width * 4  # the two trained copies, not six matrices
    assert (tmp_path / "adapter" / "tokenizer_config.json").is_file() and (tmp_path / "adapter" / "training_args.bin").is_file()
    fresh, _ = load_model(ModelArguments(model_name_or_path=str(tiny_model_dir), dtype="float32"), tokenizer, is_trainable=False)
    reloaded = PeftModel.from_pretrained(fresh, str(tmp_path / "adapter")).eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=ids).logits, expected, atol=1e-5)


def test_expanded_vocab_freeze_trains_embeddings(tiny_model_dir):
    import torch

    _, tokenizer, model, base_size = expanded_setup(tiny_model_dir, "freeze", freeze_trainable_layers=1)
    assert model.get_input_embeddings().weight.requires_grad
    before = model.get_input_embeddings().weight.detach().clone()
    ids = step_on_new_tokens(model, tokenizer)
    new_rows = sorted({i for i in ids[0].tolist() if i >= base_size})
    assert all(not torch.equal(before[i], model.get_input_embeddings().weight[i].detach()) for i in new_rows)


def test_explicit_additional_target_wins_and_untied_heads_are_both_saved(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from llmtuner.model.embeddings import embedding_module_names, lora_tie_embeddings, needs_trainable_embeddings

    explicit = FinetuningArguments(finetuning_type="lora", additional_target=["q_proj"])
    assert not needs_trainable_embeddings(True, explicit)
    assert needs_trainable_embeddings(True, FinetuningArguments(finetuning_type="lora"))
    assert not needs_trainable_embeddings(False, FinetuningArguments(finetuning_type="lora"))
    untied = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32, tie_word_embeddings=False)
    assert embedding_module_names(untied) == ["model.embed_tokens", "lm_head"]
    assert not lora_tie_embeddings(untied, ["model.embed_tokens", "lm_head"])
    model = init_adapter(untied, ModelArguments(), FinetuningArguments(finetuning_type="lora", lora_alpha=16), True,
                         vocab_changed=True)
    assert set(model.peft_config["default"].modules_to_save) == {"model.embed_tokens", "lm_head"}
    assert {n.split(".modules_to_save")[0].split(".")[-1] for n, p in model.named_parameters()
            if p.requires_grad and "modules_to_save" in n} == {"embed_tokens", "lm_head"}


def test_module_names_are_checked_from_the_config_alone(tiny_model_dir, tmp_path):
    """Wrong names fail before any data is tokenised or weights load: the folder here has no weights at all."""
    import shutil

    from llmtuner.model.adapter import check_module_names_early

    shutil.copy(tiny_model_dir / "config.json", tmp_path / "config.json")
    model_args = ModelArguments(model_name_or_path=str(tmp_path))
    with pytest.raises(ConfigError, match=r"lora_target: qkv_proj not found in this model\. Valid names: .*q_proj"):
        check_module_names_early(model_args, FinetuningArguments(finetuning_type="lora", lora_target=["q_proj", "qkv_proj"]))
    with pytest.raises(ConfigError, match="additional_target: embeddings not found"):
        check_module_names_early(model_args, FinetuningArguments(finetuning_type="lora", additional_target=["embeddings"]))
    with pytest.raises(ConfigError, match="freeze_trainable_layers=99"):
        check_module_names_early(model_args, FinetuningArguments(finetuning_type="freeze", freeze_trainable_layers=99))
    with pytest.raises(ConfigError, match="freeze_trainable_modules: attention not found"):
        check_module_names_early(model_args, FinetuningArguments(finetuning_type="freeze", freeze_trainable_modules=["attention"]))
    check_module_names_early(model_args, FinetuningArguments(finetuning_type="lora", lora_target=["q_proj", "v_proj"]))
    check_module_names_early(model_args, FinetuningArguments(finetuning_type="freeze", freeze_trainable_modules=["mlp"]))


# --- LoRA variants and adapter resumption --------------------------------------------------------------


def lora_layer(model):
    return next(module for name, module in model.named_modules() if name.endswith("q_proj") and hasattr(module, "scaling"))


def test_rslora_scales_by_the_square_root_of_the_rank(tiny_model_dir):
    for rslora, expected in ((False, 16 / 4), (True, 16 / 2)):
        model = init_adapter(load(tiny_model_dir), ModelArguments(), FinetuningArguments(
            finetuning_type="lora", lora_rank=4, lora_alpha=16, lora_target=["q_proj"], use_rslora=rslora), True)
        assert lora_layer(model).scaling["default"] == expected


def test_loraplus_gives_b_matrices_a_larger_learning_rate(tiny_model_dir):
    from types import SimpleNamespace

    from llmtuner.train.common import make_optimizer

    model = init_adapter(load(tiny_model_dir), ModelArguments(), FinetuningArguments(
        finetuning_type="lora", lora_alpha=16, lora_target=["q_proj", "v_proj"]), True)
    args = SimpleNamespace(finetuning=FinetuningArguments(finetuning_type="lora", loraplus_lr_ratio=16.0))
    optimizer = make_optimizer(model, args, SimpleNamespace(learning_rate=1e-4, weight_decay=0.0))
    names = {id(p): n for n, p in model.named_parameters()}
    rates = {"lora_A" if "lora_A" in names[id(p)] else "lora_B": group["lr"] for group in optimizer.param_groups
             for p in group["params"]}
    assert rates == {"lora_A": pytest.approx(1e-4), "lora_B": pytest.approx(1.6e-3)}
    args.finetuning.loraplus_lr_ratio = None
    assert make_optimizer(model, args, SimpleNamespace(learning_rate=1e-4, weight_decay=0.0)) is None  # trainer default


def _trained_adapter(tiny_model_dir, folder):
    import torch

    torch.manual_seed(0)
    model = init_adapter(load(tiny_model_dir), ModelArguments(), FinetuningArguments(
        finetuning_type="lora", lora_alpha=16, lora_target=["q_proj", "v_proj"]), True)
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.05)  # as if trained: B is zero at initialisation
    model.save_pretrained(str(folder))
    return model


def test_resume_an_adapter_or_stack_a_new_one_on_it(tiny_model_dir, tmp_path):
    import torch

    trained = _trained_adapter(tiny_model_dir, tmp_path / "first").eval()
    ids = torch.tensor([[5, 17, 99, 300, 41]])
    with torch.no_grad():
        expected = trained(input_ids=ids).logits
    finetuning = FinetuningArguments(finetuning_type="lora", lora_alpha=16, lora_target=["q_proj", "v_proj"])
    resumed = init_adapter(load(tiny_model_dir), ModelArguments(adapter_name_or_path=[str(tmp_path / "first")]), finetuning, True)
    trainable = {n for n, p in resumed.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)  # the saved adapter trains on
    with torch.no_grad():
        assert torch.allclose(resumed.eval()(input_ids=ids).logits, expected, atol=1e-5)

    finetuning.create_new_adapter = True
    stacked = init_adapter(load(tiny_model_dir), ModelArguments(adapter_name_or_path=[str(tmp_path / "first")]), finetuning, True)
    new_b = [p for n, p in stacked.named_parameters() if "lora_B" in n]
    assert new_b and all(not p.any() for p in new_b)  # a fresh adapter on top of the merged one
    with torch.no_grad():
        assert torch.allclose(stacked.eval()(input_ids=ids).logits, expected, atol=1e-5)


def test_new_special_tokens_are_single_tokens_with_trainable_embeddings(tiny_model_dir):
    from llmtuner.hparams import parse_train_args
    from llmtuner.model.loader import load_tokenizer
    from llmtuner.train.preamble import build_model

    config = parse_train_args(config={"model_name_or_path": str(tiny_model_dir), "dtype": "float32", "template": "qwen",
                                      "new_special_tokens": "<诊断>, <处方>", "dataset": "d", "output_dir": "unused"})
    tokenizer = load_tokenizer(config.model)
    ids = tokenizer.encode("<诊断>气虚<处方>", add_special_tokens=False)
    assert ids[0] >= 8000 and ids[-1] >= 8000 and tokenizer.decode(ids[:1]) == "<诊断>"
    model = build_model(config, tokenizer, SimpleNamespace(do_train=True))  # what every training stage calls
    assert model.get_input_embeddings().weight.shape[0] >= len(tokenizer)
    assert any("embed_tokens.modules_to_save" in n for n, p in model.named_parameters() if p.requires_grad)
    assert not config.model.resize_vocab  # nothing wrote into the arguments


@pytest.mark.parametrize(("kind", "factor"), [("linear", 2.0), ("dynamic", 3.0), ("yarn", 4.0)])
def test_rope_scaling_reaches_the_model_config(tiny_model_dir, tiny_tokenizer, kind, factor):
    from llmtuner.model.loader import load_model

    model, _ = load_model(ModelArguments(model_name_or_path=str(tiny_model_dir), dtype="float32", rope_scaling=kind,
                                      rope_scaling_factor=factor), tiny_tokenizer, is_trainable=False)
    rope = model.config.rope_parameters
    assert rope["rope_type"] == kind and rope["factor"] == factor
    assert (rope.get("original_max_position_embeddings") == 2048) == (kind == "yarn")


@pytest.fixture
def not_lora_adapters(tmp_path, tiny_model_dir):
    """Folders a user may mistake for a LoRA adapter, with the words the error must use for each."""
    import json

    empty = tmp_path / "empty"
    empty.mkdir()
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    (prefix / "adapter_config.json").write_text(json.dumps({"peft_type": "PREFIX_TUNING", "num_virtual_tokens": 20}))
    reward = tmp_path / "reward"  # what stage rm saves: a LoRA adapter with a value head, for scoring, not generating
    reward.mkdir()
    (reward / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "task_type": "SEQ_CLS", "r": 8}))
    (reward / "adapter_model.safetensors").write_bytes(b"")
    return [(empty, "is empty, so it is not a LoRA adapter folder"),
            (tiny_model_dir, "holds a whole model (config.json) but no adapter_config.json"),
            (prefix, "is a PREFIX_TUNING adapter (peft_type in adapter_config.json); only LoRA adapters"),
            (reward, "is a reward model's adapter (task_type SEQ_CLS, from stage rm)")]


@pytest.fixture
def no_weights_load(monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def refuse(*args, **kwargs):
        raise AssertionError("loaded before the adapter folder was checked")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", refuse)


@pytest.mark.parametrize("command", ["train", "eval", "export"])
def test_a_folder_that_is_no_lora_adapter_is_one_error_line_before_anything_loads(
        command, not_lora_adapters, tmp_path, capsys, no_weights_load):
    from run_helpers import sft_args

    from llmtuner.cli import main

    for folder, words in not_lora_adapters:
        out = tmp_path / f"out-{command}"
        argv = {
            "train": ["train", *sft_args(tmp_path / "data", out, adapter_name_or_path=str(folder))],
            "eval": ["eval", "--model_name_or_path", "embedded", "--adapter_name_or_path", str(folder), "--template",
                     "shuzhiqihuang", "--eval_dataset", "qa", "--output_dir", str(out)],
            "export": ["export", "--model_name_or_path", "embedded", "--adapter_name_or_path", str(folder), "--template",
                       "shuzhiqihuang", "--export_dir", str(out)],
        }[command]
        assert main(argv) == 2, folder
        err = capsys.readouterr().err
        assert f"adapter_name_or_path {folder}" in err and words in err and "Traceback" not in err
        assert "model_name_or_path" in err or "checkpoint-N" in err or "finetuning_type: lora" in err  # the fix


def test_a_missing_adapter_stops_training_before_the_tokenizer_and_weights_load(tmp_path, capsys, no_weights_load):
    from run_helpers import sft_args, write_qa_dataset

    from llmtuner.cli import main

    data = write_qa_dataset(tmp_path / "data", samples=4)
    missing = tmp_path / "saves" / "typo"
    assert main(["train", *sft_args(data, tmp_path / "out", adapter_name_or_path=str(missing))]) == 2
    err = capsys.readouterr().err
    assert f"adapter_name_or_path {missing} does not exist" in err and "checkpoint-N" in err and "Traceback" not in err


def test_an_adapter_saved_without_weights_is_refused_before_peft_loads_it(tiny_model_dir, tmp_path):
    folder = tmp_path / "partial"
    _trained_adapter(tiny_model_dir, folder)
    (folder / "adapter_model.safetensors").unlink()
    with pytest.raises(ConfigError, match=r"has adapter_config.json but no adapter_model.safetensors or adapter_model.bin"):
        init_adapter(load(tiny_model_dir), ModelArguments(adapter_name_or_path=[str(folder)]),
                     FinetuningArguments(finetuning_type="lora"), is_trainable=False)
