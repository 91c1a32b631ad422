"""The checks of the preference stages (dpo, kto, orpo, simpo, rm) and of grpo: which knob goes with which stage.

Called by `validate_train.validate_train_config`; collects problems into its list, so one ConfigError names them
all. Each knob belongs to the stages that read it: a value set for another stage would be silently ignored, so it
is refused, naming the stage that reads it.
"""

import importlib.util

from ..extras.distributed import launched_world_size
from .checks import deepspeed_stage, runs_remote_model_code, template_list
from .config import TrainConfig
from .finetuning_args import ONLINE_STAGES, PREFERENCE_STAGES, FinetuningArguments

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
    "reward_funcs": (("grpo",), ["mcq_correct", "format"]),
    "reward_weights": (("grpo",), None),
    "grpo_num_generations": (("grpo",), 4),
    "grpo_max_completion_length": (("grpo",), 256),
    "grpo_beta": (("grpo",), 0.0),
    "grpo_temperature": (("grpo",), 1.0),
    "grpo_use_vllm": (("grpo",), False),
    "grpo_vllm_mode": (("grpo",), "colocate"),
}


def check_preference(config: TrainConfig, problems: list[str]) -> None:
    finetuning, training = config.finetuning, config.training
    stage = finetuning.stage
    _check_knobs(finetuning, problems)
    if stage in ONLINE_STAGES:
        _check_chat_data(config, problems)
        _check_grpo(config, problems)
    if stage not in PREFERENCE_STAGES:
        return
    _check_chat_data(config, problems)
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


def _check_chat_data(config: TrainConfig, problems: list[str]) -> None:
    data, stage = config.data, config.finetuning.stage
    if not data.template:
        problems.append(f"stage {stage} needs a chat template: prompts and answers are rendered as in SFT. Set `template` "
                        f"to the model family ({template_list()}); shuzhiqihuang is the medical ChatML template.")
    if data.streaming:
        checked = "every prompt (an empty question)" if stage in ONLINE_STAGES else "every pair (empty or identical answers)"
        problems.append(f"stage {stage} checks {checked} before training, so it reads the data in memory: set "
                        "streaming: false.")
    if data.packing:
        why = ("GRPO samples completions per prompt" if stage in ONLINE_STAGES
               else "preference pairs are batched padded (TRL 1.16 has switched padding-free DPO off)")
        problems.append(f"packing with stage {stage}: {why}. Set packing: false (PACKING=false for the launcher).")
    if data.train_on_prompt or data.mask_history:
        problems.append(f"train_on_prompt and mask_history are SFT settings; stage {stage} scores the answers after the "
                        "prompt only. Remove them.")


def _check_grpo(config: TrainConfig, problems: list[str]) -> None:
    """Numbers and the generation backend; reward names and dataset columns are resolved by the stage itself
    (train/grpo/workflow.py), still before the tokenizer and the weights load."""
    finetuning, training = config.finetuning, config.training
    group = finetuning.grpo_num_generations
    if group < 2:
        problems.append(f"grpo_num_generations must be at least 2 (GRPO compares each completion with the others of its "
                        f"prompt), got {group}.")
    batch, accumulation = training.get("per_device_train_batch_size", 8), training.get("gradient_accumulation_steps", 1)
    world = launched_world_size()
    if group >= 2 and isinstance(batch, int) and isinstance(accumulation, int) and (batch * accumulation * world) % group:
        problems.append(f"stage grpo samples grpo_num_generations={group} completions per prompt, so the completions per "
                        f"step (per_device_train_batch_size {batch} x gradient_accumulation_steps {accumulation} x {world} "
                        f"process(es)) must be a multiple of {group}: set per_device_train_batch_size to a multiple of {group}.")
    evaluates = bool(config.data.val_size or config.data.eval_dataset)
    eval_batch = training.get("per_device_eval_batch_size", 8)
    if group >= 2 and evaluates and isinstance(eval_batch, int) and (eval_batch * world) % group:
        problems.append(f"stage grpo samples grpo_num_generations={group} completions per evaluation prompt too: set "
                        f"per_device_eval_batch_size (now {eval_batch}) to a multiple of {group}.")
    if finetuning.grpo_max_completion_length < 1:
        problems.append(f"grpo_max_completion_length must be at least 1 token, got {finetuning.grpo_max_completion_length}.")
    if finetuning.grpo_beta < 0:
        problems.append(f"grpo_beta is the weight of the KL term: it must not be negative, got {finetuning.grpo_beta} "
                        "(0: no reference, no KL).")
    if finetuning.grpo_temperature <= 0:
        problems.append(f"grpo_temperature must be greater than 0 (completions are sampled), got {finetuning.grpo_temperature}.")
    names, weights = finetuning.reward_funcs or [], finetuning.reward_weights
    if not names:
        problems.append("reward_funcs is empty: name at least one reward (mcq_correct, format, term_recall, tcm_safety, "
                        "length) or a function of your own by its dotted path (my_rewards:brevity).")
    elif weights is not None and len(weights) != len(names):
        problems.append(f"reward_weights has {len(weights)} values for {len(names)} rewards in reward_funcs. Give one weight "
                        "per reward, in the same order, or leave reward_weights out (1.0 each).")
    if finetuning.grpo_use_vllm and importlib.util.find_spec("vllm") is None:
        problems.append(f"grpo_use_vllm (grpo_vllm_mode {finetuning.grpo_vllm_mode}) needs vLLM, which is not installed: "
                        "`pip install vllm` on a GPU server, or set grpo_use_vllm: false (HF generate, CPU or GPU).")
    if finetuning.grpo_vllm_mode != "colocate" and not finetuning.grpo_use_vllm:
        problems.append(f"grpo_vllm_mode {finetuning.grpo_vllm_mode} is read only with grpo_use_vllm: true; set that too, or "
                        "remove grpo_vllm_mode.")
