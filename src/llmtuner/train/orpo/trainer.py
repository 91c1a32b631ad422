"""ORPO and SimPO through TRL's experimental ORPOTrainer and CPOTrainer (imported in train.trl_compat only).

Neither has a reference model: ORPO adds an odds-ratio term (weight pref_beta, its lambda) to the chosen answers'
NLL; SimPO is CPO's loss_type "simpo": length-normalised log-probs, margin simpo_gamma, and CPO's NLL weight
pref_ftx (0 = pure SimPO). Both read the old-style prompt_/chosen_/rejected_ columns that `tokenize_row` builds.
"""

from typing import Any

from ...hparams import TrainConfig
from ..adapter_saving import CompactAdapterSaving
from ..common import make_optimizer
from ..preamble import StageInputs
from ..preference import preference_arguments
from ..trl_compat import TokenizedOldStylePairs, cpo_classes, orpo_classes

REFERENCE_FREE = {
    "orpo": orpo_classes,
    "simpo": cpo_classes,
}


def stage_values(config: TrainConfig) -> dict[str, Any]:
    finetuning = config.finetuning
    values: dict[str, Any] = {"beta": finetuning.pref_beta, "max_length": config.data.cutoff_len,
                              "dataset_num_proc": config.data.preprocessing_num_workers,
                              # their batches have no input_ids to count tokens by (chosen_/rejected_input_ids instead)
                              "include_num_input_tokens_seen": "no"}
    if finetuning.stage == "simpo":
        values.update(loss_type="simpo", simpo_gamma=finetuning.simpo_gamma, cpo_alpha=finetuning.pref_ftx)
    return values


def build_reference_free_trainer(config: TrainConfig, training_args: Any, stage: StageInputs, callbacks: list[Any]) -> Any:
    config_cls, trainer_cls = REFERENCE_FREE[config.finetuning.stage]()

    class ReferenceFreeTrainer(CompactAdapterSaving, TokenizedOldStylePairs, trainer_cls):  # type: ignore[misc, valid-type]
        pass

    args = preference_arguments(training_args, config_cls, **stage_values(config))
    return ReferenceFreeTrainer(
        model=stage.model, args=args, train_dataset=stage.data.train, eval_dataset=stage.data.eval,
        processing_class=stage.tokenizer, callbacks=callbacks, optimizers=(make_optimizer(stage.model, config, args), None),
    )
