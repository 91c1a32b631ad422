"""Continued pretraining: plain text + EOS, chunked to cutoff_len, next-token loss; eval loss and perplexity."""

from typing import Any

from ...hparams import TrainConfig
from ..common import make_optimizer, run_trainer
from ..preamble import pad_multiple, prepare_stage


def run_pt(config: TrainConfig, training_args: Any, callbacks: list[Any]) -> dict[str, float]:
    from ...data.collator import SupervisedCollator
    from .trainer import PTTrainer

    stage = prepare_stage(config, training_args)
    tokenizer = stage.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    trainer = PTTrainer(
        model=stage.model, args=training_args, train_dataset=stage.data.train, eval_dataset=stage.data.eval,
        processing_class=tokenizer, data_collator=SupervisedCollator(pad_id, pad_multiple()),
        callbacks=callbacks, optimizers=(make_optimizer(stage.model, config, training_args), None),
    )
    return run_trainer(trainer, config, training_args, stage.resume, perplexity=True)
