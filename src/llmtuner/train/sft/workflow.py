"""Supervised fine-tuning: chat-templated conversations, loss on the answers only; optional generation on the eval data."""

from typing import Any

from ...extras.logging import get_logger
from ...hparams import Arguments
from ..common import (build_model, check_module_names, data_seed, main_process_first, make_optimizer, pad_multiple,
                      resolve_resume, run_trainer)

logger = get_logger(__name__)


def run_sft(args: Arguments, training_args: Any, callbacks: list[Any]) -> dict[str, float]:
    from ...data.collator import SupervisedCollator
    from ...data.pipeline import prepare_datasets
    from ...model.loader import load_tokenizer
    from .supervised_head import SupervisedHead, supports_supervised_head
    from .trainer import SFTTrainer, predict_and_score

    resume = resolve_resume(training_args, args.finetuning.overwrite_output_dir)
    check_module_names(args, training_args)
    tokenizer = load_tokenizer(args.model)
    with main_process_first(training_args, "preprocessing"):
        data = prepare_datasets(tokenizer, args.data, "sft", seed=data_seed(training_args),
                                for_generation=training_args.do_predict)
    model = build_model(args, tokenizer, training_args)
    head = SupervisedHead() if args.finetuning.skip_unlabeled_logits and supports_supervised_head(model) else None
    if args.finetuning.skip_unlabeled_logits and head is None:
        logger.info("skip_unlabeled_logits: the model runs its own (remote) code, whose output layer may expect "
                    "another layout; computing the full logits.")
    trainer = SFTTrainer(
        model=model, args=training_args, train_dataset=data.train, eval_dataset=data.eval, processing_class=tokenizer,
        data_collator=SupervisedCollator(tokenizer.pad_token_id, pad_multiple()),
        callbacks=callbacks, optimizers=(make_optimizer(model, args, training_args), None), supervised_head=head,
    )
    # generation stops on the template's end-of-turn tokens, not only on the tokenizer's EOS
    trainer.model.generation_config.eos_token_id = data.template.stop_token_ids(tokenizer)
    trainer.model.generation_config.pad_token_id = tokenizer.pad_token_id
    metrics = run_trainer(trainer, args, training_args, resume, perplexity=False)
    if training_args.do_predict:
        metrics.update(predict_and_score(trainer, data.predict, tokenizer, args.generating.to_generate_kwargs()))
    return metrics
