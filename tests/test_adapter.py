"""Each finetuning type trains exactly the parameters it promises, and bad module names list valid ones."""

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
    args = FinetuningArguments(finetuning_type="lora", lora_alpha=16, lora_target="q_proj,v_proj", additional_target="embed_tokens")
    changed = changed_after_one_step(init_adapter(load(tiny_model_dir), ModelArguments(), args, True))
    assert {n for n in changed if "lora_" in n} and all(("q_proj" in n or "v_proj" in n) for n in changed if "lora_" in n)
    assert any("embed_tokens" in n and "modules_to_save" in n for n in changed)


def test_lora_wrong_target_lists_valid_names(tiny_model_dir):
    args = FinetuningArguments(finetuning_type="lora", lora_alpha=16, lora_target="query_key_value")
    with pytest.raises(ConfigError, match="query_key_value not found.*Valid names: down_proj, gate_proj, k_proj"):
        init_adapter(load(tiny_model_dir), ModelArguments(), args, True)


def test_freeze_trains_last_layers_only(tiny_model_dir):
    args = FinetuningArguments(finetuning_type="freeze", freeze_trainable_layers=1)
    model = init_adapter(load(tiny_model_dir), ModelArguments(), args, True)
    last = model.config.num_hidden_layers - 1
    changed = changed_after_one_step(model)
    assert changed and all(f"layers.{last}." in name for name in changed)


def test_freeze_named_modules_and_wrong_name(tiny_model_dir):
    args = FinetuningArguments(finetuning_type="freeze", freeze_trainable_layers=2, freeze_trainable_modules="mlp")
    changed = changed_after_one_step(init_adapter(load(tiny_model_dir), ModelArguments(), args, True))
    assert changed and all(".mlp." in name for name in changed)
    bad = FinetuningArguments(finetuning_type="freeze", freeze_trainable_modules="ffn")
    with pytest.raises(ConfigError, match="ffn not found.*Valid names:.*mlp.*self_attn"):
        init_adapter(load(tiny_model_dir), ModelArguments(), bad, True)


def test_full_trains_everything(tiny_model_dir):
    model = init_adapter(load(tiny_model_dir), ModelArguments(), FinetuningArguments(finetuning_type="full"), True)
    changed = changed_after_one_step(model)
    assert changed == {n for n, _ in model.named_parameters()}


def test_linear_names_exclude_the_head(tiny_model_dir):
    assert "lm_head" not in linear_module_names(load(tiny_model_dir))
