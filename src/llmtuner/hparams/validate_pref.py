"""The checks of the preference stages (dpo, kto, orpo, simpo, rm): which knob goes with which stage.

Called by `validate_train.validate_train_config`; collects problems into its list, so one ConfigError names them
all. Each knob belongs to the stages that read it: a value set for another stage would be silently ignored, so it
is refused, naming the stage that reads it.
"""

from .checks import deepspeed_stage, runs_remote_model_code, template_list
from .config import TrainConfig
from .finetuning_args import PREFERENCE_STAGES, FinetuningArguments

REFERENCE_STAGES = ("dpo", "kto")
"""Stages whose loss compares the policy with a reference model (orpo, simpo and rm have none)."""

# knob -> (the stages that read it, its default): set to anything else for another stage, it is refused
STAGE_KNOBS: dict[str, tuple[tuple[str, ...], object]] = {
    "pref_loss": (("dpo",), "sigmoid"),
    "pref_label_smoothing": (("dpo",), 0.0),
    "pref_ftx": (("dpo", "simpo"), 0.0),
    "pref_precompute_ref": (REFERENCE_STAGES, False),
    "simpo_gamma": (("simpo",), 0.5),
    "kto_chosen_weight": (("kto",), 1.0),
    "kto_rejected_weight": (("kto",), 1.0),
    "pref_beta": (("dpo", "kto", "orpo", "simpo"), 0.1),
}


def check_preference(config: TrainConfig, problems: list[str]) -> None:
    finetuning, data, training = config.finetuning, config.data, config.training
    stage = finetuning.stage
    _check_knobs(finetuning, problems)
    if stage not in PREFERENCE_STAGES:
        return
    if not data.template:
        problems.append(f"stage {stage} needs a chat template: prompts and answers are rendered as in SFT. Set `template` "
                        f"to the model family ({template_list()}); shuzhiqihuang is the medical ChatML template.")
    if data.streaming:
        problems.append(f"stage {stage} checks every pair before training (empty or identical answers), so it reads the "
                        "data in memory: set streaming: false.")
    if data.packing:
        problems.append(f"packing with stage {stage}: preference pairs are batched padded (TRL 1.16 has switched "
                        "padding-free DPO off). Set packing: false (PACKING=false for the launcher).")
    if data.train_on_prompt or data.mask_history:
        problems.append(f"train_on_prompt and mask_history are SFT settings; stage {stage} scores the answers after the "
                        "prompt only. Remove them.")
    if finetuning.pref_beta <= 0:
        problems.append(f"pref_beta must be greater than 0, got {finetuning.pref_beta}.")
    if finetuning.pref_ftx < 0:
        problems.append(f"pref_ftx is a loss weight: it must not be negative, got {finetuning.pref_ftx}.")
    if not 0.0 <= finetuning.pref_label_smoothing < 0.5:
        problems.append(f"pref_label_smoothing is the probability that a label is flipped: use a value in [0, 0.5), got "
                        f"{finetuning.pref_label_smoothing}.")
    if finetuning.pref_loss == "exo_pair" and finetuning.pref_label_smoothing == 0.0:
        problems.append("pref_loss exo_pair needs pref_label_smoothing > 0 (the EXO paper uses 1e-3).")
    if min(finetuning.kto_chosen_weight, finetuning.kto_rejected_weight) <= 0:
        problems.append("kto_chosen_weight and kto_rejected_weight must be greater than 0.")
    if stage == "kto":
        _check_kto(training, problems)
    if stage == "rm":
        _check_rm(config, problems)


def _check_knobs(finetuning: FinetuningArguments, problems: list[str]) -> None:
    for knob, (stages, default) in STAGE_KNOBS.items():
        value = getattr(finetuning, knob)
        if value != default and finetuning.stage not in stages:
            problems.append(f"{knob}={value!r} is read by stage {' and '.join(stages)} only, but stage is "
                            f"{finetuning.stage}: remove it, or set the stage that uses it.")


def _check_kto(training: dict, problems: list[str]) -> None:
    batch = training.get("per_device_train_batch_size")
    if isinstance(batch, int) and batch < 2:
        problems.append("stage kto estimates its KL term from the other answers of a batch: per_device_train_batch_size "
                        f"must be at least 2, got {batch}.")
    sampling = training.get("train_sampling_strategy")
    if sampling not in (None, "sequential"):
        problems.append(f"stage kto pairs each answer with a neighbour's prompt for its KL term, so batches keep the "
                        f"data's (shuffled once) order: remove train_sampling_strategy {sampling!r}.")


def _check_rm(config: TrainConfig, problems: list[str]) -> None:
    if runs_remote_model_code(config.model):
        problems.append(f"stage rm puts a sequence-classification head (a value head) on the model, but "
                        f"{config.model.model_name_or_path} runs its own code (trust_remote_code), which transformers "
                        "has no such head for. Train the reward model on a transformers-native family (Qwen, Llama, ...).")
    if deepspeed_stage(config.training.get("deepspeed")) == 3:
        problems.append("stage rm shares the loaded model's layers with its value head, which ZeRO-3's partitioned "
                        "weights do not allow: use a ZeRO-2 config (deepspeed_config.json) or none.")
