"""The embedding matrix on every training run: grown for new tokens, and trainable when the vocabulary changed.

The tokenizer may hold more tokens than the model has embedding rows (``scripts/expand_vocab.py``,
``new_special_tokens``): ``loader.py`` then grows the input embedding and a separate output head
(mean-initialised), and ``adapter.py`` makes them trainable for ``lora`` (peft ``modules_to_save``) and
``freeze``, since new rows that never train stay noise; ``full`` trains them anyway.
"""

from collections.abc import Sequence
from typing import Any

from ..extras.logging import get_logger

logger = get_logger(__name__)


def embedding_rows(model: Any) -> int:
    """Rows of the input embedding (``num_embeddings``: ZeRO-3 partitioning leaves ``weight.shape`` empty)."""
    embedding = model.get_input_embeddings()
    rows = getattr(embedding, "num_embeddings", None)
    if rows is None:
        weight = embedding.weight
        rows = getattr(weight, "ds_shape", weight.shape)[0]
    return int(rows)


def resize_embeddings(model: Any, num_tokens: int) -> bool:
    """Grow embeddings (and a separate output head) to ``num_tokens`` when they are smaller; True if resized.

    New rows are mean-initialised so new tokens start near the existing logit distribution instead of as
    random spikes; the row count is padded to a multiple of 64, as checkpoints ship it, for fast matmuls.
    """
    rows = embedding_rows(model)
    if rows >= num_tokens:
        return False
    model.resize_token_embeddings(num_tokens, mean_resizing=True, pad_to_multiple_of=64)
    logger.info("The tokenizer has %d tokens but the model %d embedding rows: resized to %d (mean-initialised).",
                num_tokens, rows, embedding_rows(model))
    return True


def embedding_module_names(model: Any) -> list[str]:
    """Dotted names of the input embedding and the output head, e.g. ``["model.embed_tokens", "lm_head"]``."""
    wanted = [m for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m is not None]
    return [name for name, module in model.named_modules() if name and any(module is w for w in wanted)]


def embeddings_tied(model: Any) -> bool:
    """True when the output head shares its weight with the input embedding (``tie_word_embeddings``)."""
    head = model.get_output_embeddings()
    return head is not None and head.weight is model.get_input_embeddings().weight


def needs_trainable_embeddings(vocab_changed: bool, finetuning_args: Any) -> bool:
    """True when the vocabulary changed and the method would freeze the embeddings.

    ``vocab_changed``: the embeddings were resized (``load_model`` says so), tokens were added
    (``new_special_tokens``) or ``resize_vocab`` was asked. For ``lora`` an explicit ``additional_target``
    wins: the user chose what trains beside the adapters.
    """
    if not vocab_changed:
        return False
    if finetuning_args.finetuning_type == "lora":
        return not finetuning_args.additional_target
    return finetuning_args.finetuning_type == "freeze"


def lora_tie_embeddings(model: Any, modules_to_save: Sequence[str]) -> bool:
    """Whether peft must keep the trained embedding copy tied to the head (``LoraConfig.ensure_weight_tying``).

    Without it peft 0.21 trains two separate copies of a tied matrix in ``modules_to_save``: the head and
    the embedding drift apart, and merging into a checkpoint that declares them tied loses one of them.
    """
    if not modules_to_save or not embeddings_tied(model):
        return False
    names = embedding_module_names(model)
    return any(full == name or full.endswith(f".{name}") for name in modules_to_save for full in names)


def unfreeze_embeddings(model: Any) -> list[str]:
    """Make the input embedding and output head trainable (the ``freeze`` method); return their names."""
    for module in (model.get_input_embeddings(), model.get_output_embeddings()):
        if module is not None:
            module.weight.requires_grad_(True)
    names = embedding_module_names(model)
    logger.info("Vocabulary resized: training %s as well (freeze).", ", ".join(names))
    return names
