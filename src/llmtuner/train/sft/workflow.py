"""Supervised fine-tuning: chat-templated conversations, loss on the answers only; optional generation on the eval data."""

from typing import Any

from ...extras.logging import get_logger
from ...hparams import TrainConfig
from ..common import make_optimizer, run_trainer
from ..preamble import pad_multiple, prepare_stage

logger = get_logger(__name__)


def run_sft(config: TrainConfig, training_args: Any, callbacks: list[Any]) -> dict[str, float]:
    from ...data.collator import SupervisedCollator
    from .supervised_head import SupervisedHead, supports_supervised_head
    from .trainer import SFTTrainer, predict_and_score

    stage = prepare_stage(config, training_args, for_generation=training_args.do_predict)
    tokenizer, model = stage.tokenizer, stage.model
    skip_logits = config.finetuning.skip_unlabeled_logits
    head = SupervisedHead() if skip_logits and supports_supervised_head(model) else None
    if skip_logits and head is None:
        logger.info("skip_unlabeled_logits: the model runs its own (remote) code, whose output layer may expect "
                    "another layout; computing the full logits.")
    trainer = SFTTrainer(
        model=model, args=training_args, train_dataset=stage.data.train, eval_dataset=stage.data.eval,
        processing_class=tokenizer, data_collator=SupervisedCollator(tokenizer.pad_token_id, pad_multiple()),
        callbacks=callbacks, optimizers=(make_optimizer(model, config, training_args), None), supervised_head=head,
    )
    # generation stops on the template's end-of-turn tokens, not only on the tokenizer's EOS
    trainer.model.generation_config.eos_token_id = stage.template.stop_token_ids(tokenizer)
    trainer.model.generation_config.pad_token_id = tokenizer.pad_token_id
    metrics = run_trainer(trainer, config, training_args, stage.resume, perplexity=False)
    if training_args.do_predict:
        metrics.update(predict_and_score(trainer, stage.data.predict, tokenizer, config.generating.to_generate_kwargs()))
    return metrics
