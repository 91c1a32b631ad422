"""Seq2SeqTrainer for decoder-only SFT: generation returns only the new tokens, and predictions are saved.

transformers' Seq2SeqTrainer was written for encoder-decoders: it would run the loss on prompt-only
inputs against references of another length, and it returns prompt + continuation for decoder-only
models. Here prediction pops the references before generating and cuts the prompt off the output.
"""

import os
from typing import Any

from transformers import Seq2SeqTrainer

from ...extras.constants import IGNORE_INDEX
from ...extras.files import write_jsonl
from ..adapter_saving import CompactAdapterSaving
from .supervised_head import SupervisedHead

PREDICTIONS_NAME = "generated_predictions.jsonl"


class SFTTrainer(CompactAdapterSaving, Seq2SeqTrainer):
    def __init__(self, *args: Any, supervised_head: SupervisedHead | None = None, **kwargs: Any) -> None:
        if supervised_head is not None:
            kwargs["compute_loss_func"] = supervised_head.loss
        super().__init__(*args, **kwargs)
        self.supervised_head = supervised_head

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        if self.supervised_head is None or return_outputs or not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        with self.supervised_head.selecting(model, inputs["labels"]):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def prediction_step(self, model: Any, inputs: dict[str, Any], prediction_loss_only: bool,
                        ignore_keys: list[str] | None = None, **gen_kwargs: Any) -> tuple[Any, Any, Any]:
        if not self.args.predict_with_generate or prediction_loss_only:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        references = inputs.pop("labels", None)
        prompt_length = inputs["input_ids"].size(-1)  # prompts are left-padded: all rows end here
        loss, generated, _ = super().prediction_step(model, inputs, False, ignore_keys=ignore_keys, **gen_kwargs)
        if generated is not None:
            generated = generated[:, prompt_length:].contiguous()
        return loss, generated, references


def decode(tokenizer: Any, rows: Any) -> list[str]:
    """Token id rows (padded with -100 by the trainer's gathering) -> text without special tokens."""
    import numpy as np

    rows = np.where(np.asarray(rows) == IGNORE_INDEX, tokenizer.pad_token_id, rows)
    return [text.strip() for text in tokenizer.batch_decode(rows, skip_special_tokens=True)]


def write_predictions(path: str, prompts: list[str], predictions: list[str], references: list[str]) -> None:
    """LLaMA-Factory's generated_predictions.jsonl layout (prompt, predict, label), written atomically."""
    rows = zip(prompts, predictions, references, strict=True)
    write_jsonl(path, ({"prompt": prompt, "predict": predict, "label": label} for prompt, predict, label in rows))


def predict_and_score(trainer: SFTTrainer, dataset: Any, tokenizer: Any, gen_kwargs: dict[str, Any]) -> dict[str, float]:
    """Generate for every prompt of `dataset`, write generated_predictions.jsonl, return ROUGE/BLEU (x100)."""
    from ...data.collator import GenerationCollator
    from ...eval.metrics import corpus_scores

    training_collator = trainer.data_collator
    trainer.data_collator = GenerationCollator(tokenizer.pad_token_id)
    try:
        output = trainer.predict(dataset, metric_key_prefix="predict", **gen_kwargs)
    finally:
        trainer.data_collator = training_collator
    predictions, references = decode(tokenizer, output.predictions), decode(tokenizer, output.label_ids)
    metrics = dict(output.metrics)
    metrics.update({f"predict_{name}": value for name, value in corpus_scores(predictions, references).items()})
    if trainer.is_world_process_zero():
        prompts = [text.strip() for text in tokenizer.batch_decode(dataset.data.column("input_ids").to_pylist(), skip_special_tokens=True)]
        write_predictions(os.path.join(trainer.args.output_dir, PREDICTIONS_NAME), prompts, predictions, references)
    trainer.log_metrics("predict", metrics)
    trainer.save_metrics("predict", metrics)
    return metrics
