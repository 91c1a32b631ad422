"""trl.GRPOTrainer built from our arguments: the rewards and their weights, the group size, the completion budget,
KL weight and temperature, HF generate (or vLLM), our prompt ids, and the template's stop tokens as EOS."""

from typing import Any

from ...hparams import TrainConfig
from ..adapter_saving import CompactAdapterSaving
from ..common import make_optimizer
from ..preamble import StageInputs, pad_multiple
from ..preference import adapter_is_new, preference_arguments
from ..trl_compat import SaveTrainedAdapterOnly, TokenizedPrompts, grpo_classes, settle_reference_adapter


def grpo_values(config: TrainConfig, weights: list[float]) -> dict[str, Any]:
    """GRPOConfig's own values, from our grpo_* knobs."""
    finetuning = config.finetuning
    values: dict[str, Any] = {
        "remove_unused_columns": False,  # the reward functions read the dataset's columns
        "num_generations": finetuning.grpo_num_generations,
        "max_completion_length": finetuning.grpo_max_completion_length,
        "beta": finetuning.grpo_beta,
        "temperature": finetuning.grpo_temperature,
        "reward_weights": weights,
        "use_vllm": finetuning.grpo_use_vllm,
        "pad_to_multiple_of": pad_multiple(),
        "log_completions": False,  # completions are patients' answers: never printed
    }
    if finetuning.grpo_use_vllm:
        values["vllm_mode"] = finetuning.grpo_vllm_mode
    return values


def build_grpo_trainer(config: TrainConfig, training_args: Any, stage: StageInputs, callbacks: list[Any],
                       rewards: tuple[list[Any], list[float]]) -> Any:
    config_cls, trainer_cls = grpo_classes()

    class GRPOTrainer(SaveTrainedAdapterOnly, CompactAdapterSaving, TokenizedPrompts, trainer_cls):  # type: ignore[misc, valid-type]
        pass

    functions, weights = rewards
    args = preference_arguments(training_args, config_cls, **grpo_values(config, weights))
    # a completion ends on any of the template's stop words (TRL reads the model's generation config for its EOS ids)
    stop = stage.template.stop_token_ids(stage.tokenizer) if stage.template is not None else []
    if stop:
        stage.model.generation_config.eos_token_id = stop
    trainer = GRPOTrainer(
        model=stage.model, reward_funcs=functions, args=args, train_dataset=stage.data.train, eval_dataset=stage.data.eval,
        processing_class=stage.tokenizer, callbacks=callbacks, optimizers=(make_optimizer(stage.model, config, args), None),
    )
    settle_reference_adapter(trainer.model, adapter_is_new(config))  # beta > 0 on a new LoRA: the adapter disabled
    return trainer
