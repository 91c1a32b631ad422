"""trl.RewardTrainer built from our arguments: pairs rendered by our template become the two full sequences it
scores (prompt + chosen, prompt + rejected); the loss is -log sigmoid(r_chosen - r_rejected)."""

from typing import Any

from ...hparams import TrainConfig
from ..common import make_optimizer
from ..preamble import StageInputs, pad_multiple
from ..preference import preference_arguments
from ..trl_compat import reward_classes


def full_sequences(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """datasets.map function (batched): the reward trainer's chosen_ids / rejected_ids are whole sequences."""
    return {role: [prompt + answer for prompt, answer in zip(batch["prompt_ids"], batch[role])]
            for role in ("chosen_ids", "rejected_ids")}


def _scored(dataset: Any) -> Any:
    if dataset is None:
        return None
    return dataset.map(full_sequences, batched=True, remove_columns=["prompt_ids"], desc="Prompt + answers (rm)")


def build_reward_trainer(config: TrainConfig, training_args: Any, stage: StageInputs, callbacks: list[Any]) -> Any:
    config_cls, trainer_cls = reward_classes()
    args = preference_arguments(training_args, config_cls, max_length=None, pad_to_multiple_of=pad_multiple(),
                                dataset_num_proc=config.data.preprocessing_num_workers)
    return trainer_cls(
        model=stage.model, args=args, train_dataset=_scored(stage.data.train), eval_dataset=_scored(stage.data.eval),
        processing_class=stage.tokenizer, callbacks=callbacks, optimizers=(make_optimizer(stage.model, config, args), None),
    )
