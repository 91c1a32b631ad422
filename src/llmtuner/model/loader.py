"""Load the tokenizer (and, for training, the model) the arguments ask for."""

from typing import Any

from ..extras.errors import ConfigError
from ..extras.logging import get_logger
from ..hparams import ModelArguments
from .embeddings import resize_embeddings

logger = get_logger(__name__)

EMBEDDED = "embedded"
"""`model_name_or_path: embedded` = the project's tiny model, built from data/ on first use."""


def resolve_model_path(model_name_or_path: str) -> str:
    if model_name_or_path == EMBEDDED:
        from .tiny import ensure_tiny_model

        return str(ensure_tiny_model())
    return model_name_or_path


def source_kwargs(model_args: ModelArguments) -> dict[str, Any]:
    """from_pretrained arguments that say where the files are, shared by tokenizer, config and model."""
    kwargs: dict[str, Any] = {"trust_remote_code": model_args.trust_remote_code, "revision": model_args.model_revision,
                              "cache_dir": model_args.cache_dir}
    if model_args.gguf_file:
        kwargs["gguf_file"] = model_args.gguf_file  # transformers reads config, tokenizer and weights from it
    return kwargs


def load_tokenizer(model_args: ModelArguments) -> Any:
    """Tokenizer with right padding (training) and any requested special tokens added."""
    from transformers import AutoTokenizer

    path = resolve_model_path(model_args.model_name_or_path or "")
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            path, use_fast=model_args.use_fast_tokenizer, split_special_tokens=model_args.split_special_tokens,
            padding_side="right", **source_kwargs(model_args),
        )
    except (OSError, ValueError) as error:
        hint = (" It ships its own tokenizer code: set trust_remote_code: true if you trust it."
                if "trust_remote_code" in str(error) else "")
        raise ConfigError(f"Could not load a tokenizer from {path!r}: {error}.{hint}") from error
    if model_args.new_special_tokens:
        added = tokenizer.add_special_tokens({"additional_special_tokens": list(model_args.new_special_tokens)},
                                             replace_extra_special_tokens=False)
        logger.info("Added %d special tokens (new_special_tokens); their embeddings train with the model.", added)
    return tokenizer


def infer_dtype(requested: str) -> Any:
    """`auto`: bf16 on GPUs that support it, else fp16 on GPU, fp32 on CPU (CPU fp16 matmuls are slow or missing)."""
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def infer_attention(requested: str, training: bool = False) -> str:
    """`auto`: flash_attention_2 on GPUs where installed, else SDPA; CPU training uses the packed-row SDPA."""
    if requested != "auto":
        return requested
    import importlib.util

    import torch

    if torch.cuda.is_available():
        return "flash_attention_2" if importlib.util.find_spec("flash_attn") is not None else "sdpa"
    if training:
        from .packed_attention import register_packed_attention

        return register_packed_attention()  # SDPA, but packed rows attend per sample (measured faster on CPU)
    return "sdpa"


def _quantization_config(model_args: ModelArguments, dtype: Any) -> Any:
    from transformers import BitsAndBytesConfig

    if model_args.quantization_bit == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type=model_args.quantization_type,
        bnb_4bit_use_double_quant=model_args.double_quantization, bnb_4bit_compute_dtype=dtype,
    )


def load_model(model_args: ModelArguments, tokenizer: Any, is_trainable: bool,
               cutoff_len: int | None = None) -> tuple[Any, bool]:
    """(the causal LM with the dtype, attention kernel, quantization and RoPE scaling asked for, whether its
    embeddings were resized to fit the tokenizer)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    path = resolve_model_path(model_args.model_name_or_path or "")
    common = source_kwargs(model_args)
    config = AutoConfig.from_pretrained(path, **common)
    dtype = infer_dtype(model_args.dtype)
    if model_args.rope_scaling:
        max_positions = getattr(config, "max_position_embeddings", None)
        factor = model_args.rope_scaling_factor or (
            max(1.0, cutoff_len / max_positions) if cutoff_len and max_positions else 1.0)
        rope = dict(getattr(config, "rope_parameters", None) or {})
        rope.update({"rope_type": model_args.rope_scaling, "factor": float(factor)})
        if model_args.rope_scaling in ("yarn", "llama3") and max_positions:
            rope["original_max_position_embeddings"] = max_positions
        config.rope_parameters = rope
        logger.info("RoPE scaling %s, factor %.2f.", model_args.rope_scaling, factor)
    kwargs: dict[str, Any] = {
        "config": config, "dtype": dtype,
        "attn_implementation": infer_attention(model_args.attn_implementation, training=is_trainable),
        **common,  # no low_cpu_mem_usage: transformers 5 dropped it (loading is always low-memory)
    }
    if model_args.quantization_bit is not None:
        kwargs["quantization_config"] = _quantization_config(model_args, dtype)
        kwargs["device_map"] = {"": int(__import__("os").environ.get("LOCAL_RANK", "0"))} if torch.cuda.is_available() else {"": "cpu"}
    if model_args.gguf_file:
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(dequantize=True)  # dense weights: trainable and mergeable
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if model_args.gguf_file and getattr(model, "hf_quantizer", None) is not None:
        # The weights are plain tensors now, but the GGUF marker would make the Trainer refuse to train and
        # save_pretrained refuse to save; transformers' own dequantize() path drops it the same way.
        model.hf_quantizer.remove_quantization_config(model)
    # automatic whenever the tokenizer outgrew the embeddings (e.g. scripts/expand_vocab.py); the caller then
    # trains the embeddings too, whose new rows are untrained otherwise
    resized = resize_embeddings(model, len(tokenizer))
    if is_trainable:
        model.config.use_cache = False  # a KV cache is useless in training and breaks packed-sequence masks
    else:
        model.requires_grad_(False)
        model.eval()
    return model, resized
