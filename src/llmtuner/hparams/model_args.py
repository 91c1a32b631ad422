"""Arguments that say which model to load and how."""

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Path to a local model folder (or a hub id, on machines that can reach the hub). "
            "`embedded` means the project's tiny model, built from data/ on first use."
        },
    )
    gguf_file: str | None = field(
        default=None,
        metadata={
            "help": "A GGUF file to load the base from: a file name inside model_name_or_path, or a path. Its weights "
            "are dequantized to `dtype` on load (needs `pip install gguf`). Setting model_name_or_path to a .gguf "
            "file does the same."
        },
    )
    adapter_name_or_path: list[str] | None = field(
        default=None,
        metadata={"help": "Path(s) to LoRA adapter folder(s), comma-separated; applied in order."},
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where downloaded models are cached."})
    model_revision: str = field(default="main", metadata={"help": "Model version: branch, tag or commit id."})
    use_fast_tokenizer: bool = field(default=True, metadata={"help": "Use the fast (Rust) tokenizer."})
    split_special_tokens: bool = field(
        default=False, metadata={"help": "Tokenize special-token strings found in text as plain text."}
    )
    new_special_tokens: list[str] | None = field(
        default=None, metadata={"help": "Special tokens to add to the tokenizer, comma-separated."}
    )
    resize_vocab: bool = field(
        default=False, metadata={"help": "Train embeddings and lm_head too, as after a vocabulary change (they are "
                                        "resized whenever the tokenizer has more tokens than the model has rows)."}
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Run Python code shipped with the model/tokenizer (needed by e.g. ChatGLM3). Off by default."},
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = field(
        default="auto",
        metadata={"help": "Weights dtype; `auto` = bf16 where supported, else fp16 on GPU, fp32 on CPU."},
    )
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2"] = field(
        default="auto",
        metadata={"help": "Attention kernel; `auto` = flash_attention_2 when installed on GPU, else sdpa."},
    )
    rope_scaling: Literal["linear", "dynamic", "yarn", "llama3"] | None = field(
        default=None, metadata={"help": "RoPE scaling type, to train beyond the model's context length."}
    )
    rope_scaling_factor: float | None = field(
        default=None, metadata={"help": "RoPE scaling factor; default = cutoff_len / max_position_embeddings."}
    )
    quantization_bit: Literal[4, 8] | None = field(
        default=None, metadata={"help": "Load the base model in 4 or 8 bits through bitsandbytes (QLoRA)."}
    )
    quantization_type: Literal["nf4", "fp4"] = field(
        default="nf4", metadata={"help": "4-bit quantization data type."}
    )
    double_quantization: bool = field(
        default=True, metadata={"help": "Quantize the 4-bit quantization constants too (saves ~0.4 bit/param)."}
    )
    low_cpu_mem_usage: bool = field(
        default=True,
        metadata={"help": "Read for LLaMA-Factory configs only: transformers 5 always loads weights into an empty "
                          "(meta-device) model, and under ZeRO-3 straight into partitions, so there is nothing to switch."}
    )
