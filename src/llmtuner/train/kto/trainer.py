"""trl.KTOTrainer built from our arguments: beta, the weights of desirable and undesirable answers, the reference
(as for DPO) and our token ids (pairs arrive as one desirable and one undesirable answer, data.preference)."""

from typing import Any

from ...hparams import TrainConfig
from ..adapter_saving import CompactAdapterSaving
from ..common import make_optimizer
from ..preamble import StageInputs, pad_multiple
from ..preference import adapter_is_new, preference_arguments, reference_model
from ..trl_compat import SaveTrainedAdapterOnly, TokenizedUnpaired, kto_classes, settle_reference_adapter


def build_kto_trainer(config: TrainConfig, training_args: Any, stage: StageInputs, callbacks: list[Any]) -> Any:
    config_cls, trainer_cls = kto_classes()

    class KTOTrainer(SaveTrainedAdapterOnly, CompactAdapterSaving, TokenizedUnpaired, trainer_cls):  # type: ignore[misc, valid-type]
        pass

    finetuning = config.finetuning
    args = preference_arguments(
        training_args, config_cls, beta=finetuning.pref_beta, desirable_weight=finetuning.kto_chosen_weight,
        undesirable_weight=finetuning.kto_rejected_weight, precompute_ref_log_probs=finetuning.pref_precompute_ref,
        max_length=None, pad_to_multiple_of=pad_multiple(), dataset_num_proc=config.data.preprocessing_num_workers,
        train_sampling_strategy="sequential",  # the KL term pairs neighbours; data.preference shuffled the rows once
    )
    trainer = KTOTrainer(
        model=stage.model, ref_model=reference_model(config, stage.tokenizer), args=args, train_dataset=stage.data.train,
        eval_dataset=stage.data.eval, processing_class=stage.tokenizer, callbacks=callbacks,
        optimizers=(make_optimizer(stage.model, config, args), None),
    )
    settle_reference_adapter(trainer.model, adapter_is_new(config))
    return trainer
