"""Continued pretraining: plain text + EOS, chunked to cutoff_len, next-token loss; eval loss and perplexity."""

from typing import Any

from ...hparams import Arguments
from ..common import (build_model, check_module_names, data_seed, main_process_first, make_optimizer, pad_multiple,
                      resolve_resume, run_trainer)


def run_pt(args: Arguments, training_args: Any, callbacks: list[Any]) -> dict[str, float]:
    from ...data.collator import SupervisedCollator
    from ...data.pipeline import prepare_datasets
    from ...model.loader import load_tokenizer
    from .trainer import PTTrainer

    resume = resolve_resume(training_args, args.finetuning.overwrite_output_dir)
    check_module_names(args, training_args)
    tokenizer = load_tokenizer(args.model)
    with main_process_first(training_args, "preprocessing"):
        data = prepare_datasets(tokenizer, args.data, "pt", seed=data_seed(training_args))
    model = build_model(args, tokenizer, training_args)
    trainer = PTTrainer(
        model=model, args=training_args, train_dataset=data.train, eval_dataset=data.eval, processing_class=tokenizer,
        data_collator=SupervisedCollator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
                                         pad_multiple()),
        callbacks=callbacks, optimizers=(make_optimizer(model, args, training_args), None),
    )
    return run_trainer(trainer, args, training_args, resume, perplexity=True)
