"""Saving an adapter that trains resized embeddings in full: the trained copies only, once.

With an expanded vocabulary the embeddings and lm_head train in full beside LoRA (peft `modules_to_save`).
peft's default for such a model (`save_embedding_layers="auto"`) also writes the resized base embeddings and
output head beside the trained copies: three times the adapter size (a 7B Qwen: about 4 GB more in every
checkpoint) for weights no load ever uses, because the trained copies replace every row. This mixin saves
with `save_embedding_layers=False` in exactly that case; everything else goes through transformers' `_save`.
"""

import os
from typing import Any

from ..extras.logging import get_logger

logger = get_logger(__name__)


def trains_embeddings_in_full(model: Any) -> bool:
    """A peft model whose modules_to_save hold the input embeddings and the output head."""
    config = getattr(model, "peft_config", {}).get(getattr(model, "active_adapter", "default"))
    if config is None or not getattr(config, "modules_to_save", None):
        return False
    embeddings = [model.get_input_embeddings(), model.get_output_embeddings()]
    return all(layer is not None and hasattr(layer, "modules_to_save") for layer in embeddings)


class CompactAdapterSaving:
    """Mixin for transformers.Trainer subclasses (put it first in the bases)."""

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        if not trains_embeddings_in_full(self.model):
            return super()._save(output_dir, state_dict)  # type: ignore[misc]
        import torch
        from transformers.trainer import TRAINING_ARGS_NAME

        if not self.args.should_save:  # ZeRO-3 ranks gathered state_dict in save_model(); only the writer writes
            return None
        output_dir = output_dir or self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        logger.info("Saving the adapter (with its trained embeddings and lm_head) to %s", output_dir)
        self.model.save_pretrained(output_dir, state_dict=state_dict, save_embedding_layers=False)
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)
        torch.save(self.args, os.path.join(output_dir, TRAINING_ARGS_NAME))
        return None
