"""Load the tokenizer (and, for training, the model) the arguments ask for."""

from typing import Any

from ..extras.errors import ConfigError
from ..extras.logging import get_logger
from ..hparams import ModelArguments

logger = get_logger(__name__)

EMBEDDED = "embedded"
"""`model_name_or_path: embedded` = the project's tiny model, built from data/ on first use."""


def resolve_model_path(model_name_or_path: str) -> str:
    if model_name_or_path == EMBEDDED:
        from .tiny import ensure_tiny_model

        return str(ensure_tiny_model())
    return model_name_or_path


def load_tokenizer(model_args: ModelArguments) -> Any:
    """Tokenizer with right padding (training) and any requested special tokens added."""
    from transformers import AutoTokenizer

    path = resolve_model_path(model_args.model_name_or_path or "")
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            path, use_fast=model_args.use_fast_tokenizer, split_special_tokens=model_args.split_special_tokens,
            trust_remote_code=model_args.trust_remote_code, revision=model_args.model_revision,
            cache_dir=model_args.cache_dir, padding_side="right",
        )
    except (OSError, ValueError) as error:
        hint = (" It ships its own tokenizer code: set trust_remote_code: true if you trust it."
                if "trust_remote_code" in str(error) else "")
        raise ConfigError(f"Could not load a tokenizer from {path!r}: {error}.{hint}") from error
    if model_args.new_special_tokens:
        tokens = [token.strip() for token in model_args.new_special_tokens.split(",") if token.strip()]
        added = tokenizer.add_special_tokens({"additional_special_tokens": tokens}, replace_extra_special_tokens=False)
        if added:
            logger.info("Added %d special tokens; embeddings will be resized.", added)
            model_args.resize_vocab = True
    return tokenizer
