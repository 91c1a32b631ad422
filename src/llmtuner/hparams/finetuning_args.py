"""Arguments that say what to train: the stage and which parameters."""

from dataclasses import dataclass, field
from typing import Literal

STAGES = ("pt", "sft")
FINETUNING_TYPES = ("lora", "qlora", "freeze", "full")


@dataclass
class FinetuningArguments:
    stage: Literal["pt", "sft"] = field(
        default="sft", metadata={"help": "Training stage: pt (continued pretraining) or sft (supervised fine-tuning)."}
    )
    finetuning_type: Literal["lora", "qlora", "freeze", "full"] = field(
        default="lora",
        metadata={"help": "lora, qlora (LoRA on a 4/8-bit base, needs bitsandbytes), freeze (last layers), or full."},
    )
    lora_rank: int = field(default=8, metadata={"help": "LoRA rank r."})
    lora_alpha: int | None = field(default=None, metadata={"help": "LoRA scale alpha; default 2 * lora_rank."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA path."})
    lora_target: list[str] = field(
        default_factory=lambda: ["all"],
        metadata={"help": "Modules that get LoRA, comma-separated; `all` = every linear layer except the output head."},
    )
    additional_target: list[str] | None = field(
        default=None,
        metadata={"help": "Modules trained in full beside LoRA (e.g. embed_tokens,lm_head after vocabulary expansion)."},
    )
    use_dora: bool = field(default=False, metadata={"help": "Weight-decomposed LoRA (DoRA)."})
    use_rslora: bool = field(default=False, metadata={"help": "Rank-stabilised LoRA scaling alpha/sqrt(r)."})
    loraplus_lr_ratio: float | None = field(
        default=None, metadata={"help": "LoRA+: learning rate of B matrices = ratio * learning_rate."}
    )
    create_new_adapter: bool = field(
        default=False, metadata={"help": "Stack a new adapter on top of adapter_name_or_path instead of resuming it."}
    )
    freeze_trainable_layers: int = field(
        default=2, metadata={"help": "freeze: train the last N layers (negative: the first N)."}
    )
    freeze_trainable_modules: list[str] = field(
        default_factory=lambda: ["all"], metadata={"help": "freeze: module names inside trainable layers, comma-separated, or `all`."}
    )
    freeze_extra_modules: list[str] | None = field(
        default=None, metadata={"help": "freeze: modules outside the layers to train too (e.g. embed_tokens)."}
    )
    skip_unlabeled_logits: bool = field(
        default=True,
        metadata={"help": "sft: compute the LM head and loss only where a token has a label, skipping prompt and "
                  "padding logits: the same loss in less time and memory. transformers-native models only; "
                  "remote-code models (ChatGLM3, Baichuan2) keep the full logits."},
    )
    plot_loss: bool = field(default=True, metadata={"help": "Write training_loss.png (and eval loss) at the end."})
    allow_upload: bool = field(
        default=False,
        metadata={"help": "Allow this run to send data off the machine: push_to_hub and remote experiment trackers "
                          "(mlflow, comet_ml, neptune, clearml, ...). Off: the data may be patients' records."},
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Start from scratch in a non-empty output_dir: no auto-resume from its checkpoints, "
                          "its files may be overwritten."},
    )
