"""What vLLM cannot serve, refused before anything loads (starting vLLM on a 7B model takes minutes).

Shared by `llmtuner eval` (infer_backend vllm) and the serving commands; `engine` is the group holding the
vllm_* fields (EvaluationArguments or ServingArguments).
"""

import importlib.util
import json
from pathlib import Path
from typing import Any

from .checks import largest_lora_rank
from .generating_args import GeneratingArguments
from .model_args import ModelArguments

USE_HF = "or use infer_backend: hf"
MERGE = "merge it first with `python src/export_model.py` and use the export"


def check_vllm(model: ModelArguments, generating: GeneratingArguments, engine: Any, problems: list[str],
               extra_adapters: list[str] | None = None) -> None:
    """`extra_adapters`: adapters served by name beside the base (the serving commands); each is a LoRARequest."""
    if importlib.util.find_spec("vllm") is None:
        problems.append(f"infer_backend vllm needs vLLM, which is not installed: `pip install vllm` on a GPU server, {USE_HF}.")
    if model.gguf_file:
        problems.append(f"infer_backend vllm does not load GGUF bases here: export the model to safetensors, {USE_HF}.")
    if model.quantization_bit is not None:
        problems.append(f"quantization_bit with infer_backend vllm: vLLM does not quantise with bitsandbytes on load. "
                        f"Remove quantization_bit (an adapter trained with QLoRA runs on the 16-bit base), {USE_HF}.")
    if model.new_special_tokens or model.resize_vocab:
        problems.append(f"new_special_tokens / resize_vocab with infer_backend vllm: vLLM serves the model's own "
                        f"vocabulary; export the resized model first (`python src/export_model.py`), {USE_HF}.")
    if model.rope_scaling is not None:
        problems.append(f"rope_scaling with infer_backend vllm: set it in the model's config.json instead, {USE_HF}.")
    if generating.num_beams > 1:
        problems.append(f"num_beams {generating.num_beams} with infer_backend vllm: vLLM generate() has no beam "
                        f"search; use num_beams: 1, {USE_HF}.")
    if not 0 < engine.vllm_gpu_memory_utilization <= 1:
        problems.append(f"vllm_gpu_memory_utilization is a share of GPU memory in (0, 1], got {engine.vllm_gpu_memory_utilization}.")
    if engine.vllm_tensor_parallel_size < 1:
        problems.append(f"vllm_tensor_parallel_size must be at least 1, got {engine.vllm_tensor_parallel_size}.")
    adapters = model.adapter_name_or_path or []
    if len(adapters) > 1:
        problems.append(f"infer_backend vllm serves one LoRA adapter on the base, got {len(adapters)} ({','.join(adapters)}): "
                        f"{MERGE}, {USE_HF}.")
    if adapters and extra_adapters:
        problems.append("adapter_name_or_path with adapters and infer_backend vllm: vLLM cannot stack a named adapter on "
                        f"another one. {MERGE.capitalize()} as the base, or {USE_HF}.")
    for adapter in [*adapters[:1], *(extra_adapters or [])]:
        check_vllm_adapter(adapter, problems)


def check_vllm_adapter(adapter: str, problems: list[str]) -> None:
    config_file = Path(adapter) / "adapter_config.json"
    if not config_file.is_file():
        problems.append(f"adapter {adapter}: no adapter_config.json there. Give the folder a training run saved.")
        return
    try:
        adapter_config = json.loads(config_file.read_text(encoding="utf-8"))
    except ValueError as error:
        problems.append(f"{config_file} is not valid JSON ({error}): the adapter folder is damaged; save it again.")
        return
    if adapter_config.get("use_dora"):
        problems.append(f"adapter {adapter} is a DoRA adapter, which vLLM cannot serve: {MERGE}, {USE_HF}.")
    if adapter_config.get("modules_to_save") or adapter_config.get("trainable_token_indices"):
        problems.append(f"adapter {adapter} also trains whole modules ({adapter_config.get('modules_to_save')}; e.g. "
                        f"resized embeddings of an expanded vocabulary), which vLLM's LoRA cannot load: {MERGE}, {USE_HF}.")
    if largest_lora_rank(adapter_config) > 512:
        problems.append(f"adapter {adapter} has LoRA rank {largest_lora_rank(adapter_config)}; vLLM serves ranks up "
                        f"to 512: {MERGE}, {USE_HF}.")
