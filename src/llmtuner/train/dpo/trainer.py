"""trl.DPOTrainer built from our arguments: the loss (pref_loss, with pref_ftx as an added SFT term), beta, the
reference (LoRA: the adapter disabled; freeze/full: a frozen copy or precomputed log-probs) and our token ids."""

from typing import Any

from ...hparams import TrainConfig
from ..adapter_saving import CompactAdapterSaving
from ..common import make_optimizer
from ..preamble import StageInputs, pad_multiple
from ..preference import adapter_is_new, preference_arguments, reference_model
from ..trl_compat import SaveTrainedAdapterOnly, TokenizedPairs, dpo_classes, settle_reference_adapter


def dpo_loss(config: TrainConfig) -> dict[str, Any]:
    """DPOConfig's loss_type / loss_weights: pref_loss, plus TRL's `sft` term weighted pref_ftx when that is set."""
    finetuning = config.finetuning
    if finetuning.pref_ftx > 0:
        return {"loss_type": [finetuning.pref_loss, "sft"], "loss_weights": [1.0, finetuning.pref_ftx]}
    return {"loss_type": [finetuning.pref_loss], "loss_weights": None}


def build_dpo_trainer(config: TrainConfig, training_args: Any, stage: StageInputs, callbacks: list[Any]) -> Any:
    config_cls, trainer_cls = dpo_classes()

    class DPOTrainer(SaveTrainedAdapterOnly, CompactAdapterSaving, TokenizedPairs, trainer_cls):  # type: ignore[misc, valid-type]
        pass

    finetuning = config.finetuning
    args = preference_arguments(
        training_args, config_cls, beta=finetuning.pref_beta, label_smoothing=finetuning.pref_label_smoothing,
        precompute_ref_log_probs=finetuning.pref_precompute_ref, max_length=None,  # cut to cutoff_len already
        pad_to_multiple_of=pad_multiple(), dataset_num_proc=config.data.preprocessing_num_workers, **dpo_loss(config),
    )
    trainer = DPOTrainer(
        model=stage.model, ref_model=reference_model(config, stage.tokenizer), args=args, train_dataset=stage.data.train,
        eval_dataset=stage.data.eval, processing_class=stage.tokenizer, callbacks=callbacks,
        optimizers=(make_optimizer(stage.model, config, args), None),
    )
    settle_reference_adapter(trainer.model, adapter_is_new(config))
    return trainer
