"""A bitsandbytes 4/8-bit release, made from the merged full-precision one.

bitsandbytes quantises while a model loads, so the merged model is written first (a hidden folder beside
export_dir), then loaded with a BitsAndBytesConfig and saved again; transformers 5 + bitsandbytes >= 0.50
serialise both 4-bit (with its quant state) and 8-bit weights, on CUDA and on bitsandbytes' CPU backend.
The merge itself always happens before, in full precision.
"""

from pathlib import Path
from typing import Any

from ..extras.errors import ConfigError
from ..extras.logging import get_logger
from ..hparams import ModelArguments
from .merge import TORCH_DTYPES

logger = get_logger(__name__)


def quantization_config(bits: int, model_args: ModelArguments, compute_dtype: str) -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=model_args.quantization_type,
                              bnb_4bit_use_double_quant=model_args.double_quantization,
                              bnb_4bit_compute_dtype=getattr(torch, TORCH_DTYPES[compute_dtype]))


def write_quantized(merged_dir: Path, target: Path, bits: int, model_args: ModelArguments, compute_dtype: str,
                    max_shard_size: int) -> None:
    """Load `merged_dir` quantised to `bits` and save it to `target` (sharded safetensors)."""
    import torch
    from transformers import AutoModelForCausalLM

    device_map = {"": 0} if torch.cuda.is_available() else {"": "cpu"}
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(merged_dir), quantization_config=quantization_config(bits, model_args, compute_dtype),
            device_map=device_map, local_files_only=True, trust_remote_code=model_args.trust_remote_code)
    except (RuntimeError, ValueError, ImportError, NotImplementedError) as error:
        raise ConfigError(f"bitsandbytes could not quantise the merged model to {bits} bits on this machine "
                          f"({'CUDA' if torch.cuda.is_available() else 'CPU'}): {error}. A quantised release needs a "
                          "CUDA GPU, or bitsandbytes>=0.50 with its CPU backend; export without "
                          "export_quantization_bit and quantise on a GPU machine.") from error
    layers = sum(type(m).__name__ in ("Linear4bit", "Linear8bitLt") for m in model.modules())
    logger.info("Quantised %d linear layers to %d bits (bitsandbytes); embeddings, norms and lm_head stay %s.",
                layers, bits, compute_dtype)
    try:
        model.save_pretrained(str(target), max_shard_size=max_shard_size)
    except (RuntimeError, ValueError, NotImplementedError) as error:
        raise ConfigError(f"This transformers/bitsandbytes version cannot save {bits}-bit weights: {error}. "
                          "Upgrade to bitsandbytes>=0.50.2, or export without export_quantization_bit.") from error
