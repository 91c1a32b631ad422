"""Arguments that say what to train: the stage and which parameters."""

from dataclasses import dataclass, field
from typing import Literal

PREFERENCE_STAGES = ("dpo", "kto", "orpo", "simpo", "rm")
"""Stages that learn from preferences (chosen vs rejected answers, or KTO's desirable/undesirable ones) through TRL.
GRPO (online: completions sampled during training, scored by reward functions) is its own stage beside these."""
ONLINE_STAGES = ("grpo",)
STAGES = ("pt", "sft", *PREFERENCE_STAGES, *ONLINE_STAGES)
FINETUNING_TYPES = ("lora", "qlora", "freeze", "full")


@dataclass
class FinetuningArguments:
    stage: Literal["pt", "sft", "dpo", "kto", "orpo", "simpo", "rm", "grpo"] = field(
        default="sft",
        metadata={"help": "Training stage: pt (continued pretraining), sft (supervised fine-tuning), or preference "
                          "training on chosen/rejected answers: dpo, kto (also unpaired data with kto_tag), orpo and simpo "
                          "(no reference model), rm (reward model); grpo (online RL: sampled answers scored by reward_funcs)."},
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
    pref_beta: float = field(
        default=0.1,
        metadata={"help": "dpo, kto, simpo: beta, how far the policy may move from the reference (higher: less; for "
                          "pref_loss ipo the regulariser tau); orpo: lambda, the weight of the odds-ratio term."},
    )
    pref_loss: Literal["sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
                       "aot_unpaired", "apo_zero", "apo_down", "discopop", "sigmoid_norm"] = field(
        default="sigmoid",
        metadata={"help": "dpo: the loss of trl.DPOConfig (loss_type): sigmoid (DPO), sigmoid_norm (SimPO-style length "
                          "normalisation, with the reference), ipo, hinge, robust, exo_pair, nca_pair, bco_pair, sppo_hard, "
                          "aot, aot_unpaired, apo_zero, apo_down, discopop."},
    )
    pref_ftx: float = field(
        default=0.0,
        metadata={"help": "dpo: weight of an SFT (NLL) loss on the chosen answers added to the preference loss; simpo: "
                          "CPO's alpha (0 = pure SimPO). Keeps the chosen answers likely."},
    )
    pref_label_smoothing: float = field(
        default=0.0,
        metadata={"help": "dpo: the probability that a pair's label is flipped (pref_loss robust, in [0, 0.5); exo_pair "
                          "needs > 0, e.g. 1e-3)."},
    )
    pref_precompute_ref: bool = field(
        default=False,
        metadata={"help": "dpo, kto: compute the reference log-probs of the whole training set once before training, "
                          "so freeze/full keep no reference copy in memory (LoRA never needs one: the reference is the "
                          "model with its adapter disabled)."},
    )
    simpo_gamma: float = field(
        default=0.5, metadata={"help": "simpo: the target reward margin gamma (TRL CPOConfig simpo_gamma)."}
    )
    kto_chosen_weight: float = field(
        default=1.0, metadata={"help": "kto: weight of the desirable (chosen) examples' loss (KTOConfig desirable_weight)."}
    )
    kto_rejected_weight: float = field(
        default=1.0,
        metadata={"help": "kto: weight of the undesirable (rejected) examples' loss (KTOConfig undesirable_weight)."},
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: ["mcq_correct", "format"],
        metadata={"help": "grpo: the reward functions, comma-separated: mcq_correct, format, term_recall, tcm_safety, length "
                          "(train/grpo/rewards.py), or a function of your own by its dotted path (my_rewards:brevity)."},
    )
    reward_weights: list[float] | None = field(
        default=None, metadata={"help": "grpo: one weight per entry of reward_funcs, in order (default 1.0 each)."}
    )
    grpo_num_generations: int = field(
        default=4,
        metadata={"help": "grpo: completions sampled per prompt (the group whose rewards are compared); the number of "
                          "completions per step (per_device_train_batch_size x devices) must be a multiple of it."},
    )
    grpo_max_completion_length: int = field(
        default=256, metadata={"help": "grpo: the most tokens a sampled completion may have."}
    )
    grpo_beta: float = field(
        default=0.0,
        metadata={"help": "grpo: weight of the KL term to the reference (LoRA: the model with its adapter disabled); 0 "
                          "keeps no reference and computes no KL."},
    )
    grpo_temperature: float = field(default=1.0, metadata={"help": "grpo: sampling temperature of the completions."})
    grpo_use_vllm: bool = field(
        default=False, metadata={"help": "grpo: generate the completions with vLLM (GPU, vllm installed) instead of HF generate."}
    )
    grpo_vllm_mode: Literal["colocate", "server"] = field(
        default="colocate",
        metadata={"help": "grpo with grpo_use_vllm: colocate (vLLM in the training process, sharing the GPU) or server "
                          "(a separate `trl vllm-serve` process; see vllm_server_host/port in TRL's GRPOConfig)."},
    )
    plot_loss: bool = field(
        default=True,
        metadata={"help": "Write training_loss.png (and eval loss; preference stages: their rewards, margins and "
                          "accuracies) at the end."},
    )
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
