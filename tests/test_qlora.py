"""QLoRA: the base loads in 4 bits through bitsandbytes (its CPU backend here), only LoRA weights learn."""

from llmtuner.hparams import FinetuningArguments, ModelArguments


def test_qlora_quantizes_the_base_and_trains_only_adapters(tiny_model_dir, tiny_tokenizer):
    import torch

    from llmtuner.model.adapter import init_adapter
    from llmtuner.model.loader import load_model

    model_args = ModelArguments(model_name_or_path=str(tiny_model_dir), quantization_bit=4)
    model, _ = load_model(model_args, tiny_tokenizer, is_trainable=True)
    quantized = [type(module).__name__ for module in model.modules() if type(module).__name__ == "Linear4bit"]
    assert quantized, "no 4-bit linear layers: the base was not quantized"
    model = init_adapter(model, model_args, FinetuningArguments(finetuning_type="lora", lora_alpha=16), is_trainable=True)
    trainable = {name for name, param in model.named_parameters() if param.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)
    assert all(param.dtype == torch.float32 for name, param in model.named_parameters() if name in trainable)

    before = {name: param.detach().clone() for name, param in model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(10, 500, (2, 16))
    model.train()
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    changed = {name for name, param in model.named_parameters() if not torch.equal(before[name], param.detach())}
    assert changed and changed <= trainable
    assert any("lora_B" in name for name in changed)
