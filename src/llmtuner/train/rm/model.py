"""The reward model: the causal LM's layers under a one-output sequence-classification head (a value head).

Loaded by our loader as every stage loads its model (dtype, quantization, RoPE scaling, embeddings sized to the
tokenizer), then put under the architecture's `...ForSequenceClassification` class, which scores the last
non-padding token with a new linear head `score`. The layers are shared, not copied: nothing is loaded twice.
Adapters in adapter_name_or_path (an SFT adapter, say) are merged into the base first. LoRA trains the layers'
adapters and the head in full (peft task SEQ_CLS: `score` is saved with the adapter); freeze trains the chosen
layers and the head; full trains everything.
"""

import dataclasses
from typing import Any

from ...extras.errors import ConfigError
from ...extras.logging import get_logger
from ...hparams import TrainConfig

logger = get_logger(__name__)

HEAD = "score"
"""transformers' name for the sequence-classification head (GenericForSequenceClassification)."""
CARRIED = ("is_loaded_in_4bit", "is_loaded_in_8bit", "hf_quantizer", "quantization_method", "is_quantized")


def value_head_model(causal_lm: Any, pad_token_id: int) -> Any:
    """A ForSequenceClassification model (num_labels 1) whose backbone is `causal_lm`'s, with a fresh head."""
    import torch
    from transformers import AutoModelForSequenceClassification

    config = causal_lm.config.__class__.from_dict(causal_lm.config.to_dict())
    config.num_labels, config.pad_token_id = 1, pad_token_id
    mapping = AutoModelForSequenceClassification._model_mapping
    if type(config) not in mapping:
        raise ConfigError(f"stage rm: transformers has no sequence-classification class for {type(config).__name__} "
                          f"({causal_lm.config.model_type}), so no reward head can be put on this model. Train the reward "
                          "model on a family that has one (Qwen, Llama, ...).")
    reward_cls = mapping[type(config)]
    with torch.device("meta"):  # the class builds a backbone of its own: on meta it allocates nothing
        reward = reward_cls(config)
    backbone = getattr(causal_lm, causal_lm.base_model_prefix)
    setattr(reward, reward.base_model_prefix, backbone)
    weight = backbone.get_input_embeddings().weight
    hidden = config.get_text_config().hidden_size
    head = torch.nn.Linear(hidden, 1, bias=False, device=weight.device, dtype=weight.dtype if weight.is_floating_point() else None)
    torch.nn.init.normal_(head.weight, std=1 / (hidden + 1) ** 0.5)
    setattr(reward, HEAD, head)
    for name in CARRIED:  # what the trainer and peft read to treat a quantized model as one
        if hasattr(causal_lm, name):
            setattr(reward, name, getattr(causal_lm, name))
    reward.name_or_path = causal_lm.name_or_path
    left = [name for name, param in reward.named_parameters() if param.is_meta]
    if left:
        raise RuntimeError(f"reward model: parameters {left[:3]} were not taken from the loaded model")
    return reward


def build_reward_model(config: TrainConfig, tokenizer: Any, training_args: Any) -> Any:
    """preamble.prepare_stage's model_builder for stage rm."""
    from peft import PeftModel

    from ...model.adapter import check_adapters, init_adapter
    from ...model.loader import load_model

    trainable = training_args.do_train
    causal_lm, _ = load_model(config.model, tokenizer, is_trainable=trainable, cutoff_len=config.data.cutoff_len)
    check_adapters(config.model)
    for path in config.model.adapter_name_or_path or []:  # e.g. the SFT adapter: part of the base from here on
        causal_lm = PeftModel.from_pretrained(causal_lm, path).merge_and_unload()
        logger.info("stage rm: merged adapter %s into the base under the value head.", path)
    reward = value_head_model(causal_lm, tokenizer.pad_token_id)
    if config.finetuning.finetuning_type == "lora" and trainable:
        return _lora(reward, config)
    model_args = dataclasses.replace(config.model, adapter_name_or_path=None)
    reward = init_adapter(reward, model_args, config.finetuning, is_trainable=trainable)
    if trainable:
        getattr(reward, HEAD).requires_grad_(True)  # freeze: the head is new, it always trains
    return reward


def _lora(reward: Any, config: TrainConfig) -> Any:
    from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

    from ...model.adapter import check_lora_names

    finetuning = config.finetuning
    if config.model.quantization_bit is not None:
        reward = prepare_model_for_kbit_training(reward, use_gradient_checkpointing=False)
    targets, extra = check_lora_names(reward, finetuning)
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS, r=finetuning.lora_rank, lora_alpha=finetuning.lora_alpha,
        lora_dropout=finetuning.lora_dropout, target_modules=[name for name in targets if name != HEAD],
        modules_to_save=extra or None,  # peft's SEQ_CLS task adds the head (`score`) itself
        use_dora=finetuning.use_dora, use_rslora=finetuning.use_rslora,
    )
    reward = get_peft_model(reward, lora)
    for param in reward.parameters():
        if param.requires_grad:
            param.data = param.data.float()
    return reward
