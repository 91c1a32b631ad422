"""The checks of `llmtuner eval`: every combination, before any model or data is loaded.

What vLLM cannot serve is refused here too: starting vLLM on a 7B model takes minutes.
"""

import importlib.util
import json
from pathlib import Path

from .checks import check_adapter_folders, check_model_source, fail, largest_lora_rank, template_list
from .config import EvalConfig


def validate_eval_config(config: EvalConfig) -> None:
    """Raise one ConfigError listing every problem found."""
    model, data, ev = config.model, config.data, config.eval
    problems: list[str] = []
    if ev.compare is not None:
        if len(ev.compare) != 2:
            problems.append("compare needs exactly two evaluation output folders: --compare DIR_A DIR_B.")
        fail(problems)
        return  # comparing reads two finished reports; nothing else is needed
    if not ev.output_dir:
        problems.append("output_dir is missing: set where predictions.jsonl, metrics.json and report.md go.")
    if ev.predictions_file:
        if ev.task != "qa":
            problems.append(f"predictions_file holds generated answers, which task qa scores (got task {ev.task}).")
        if model.model_name_or_path or model.adapter_name_or_path:
            problems.append("predictions_file is scored without a model: remove model_name_or_path / adapter_name_or_path.")
    else:
        check_model_source(model, problems)
        check_adapter_folders(model.adapter_name_or_path, problems, generative=True)  # before the base model's weights load
        if not model.model_name_or_path:
            problems.append("model_name_or_path is missing: the model to evaluate (a folder, or `embedded` for the tiny "
                            "CPU model), or give predictions_file to score existing answers.")
        if not data.eval_dataset:
            problems.append("eval_dataset is missing: dataset names from dataset_info.json or file paths, comma-separated.")
        if ev.task in ("qa", "mcq") and not data.template:
            problems.append(f"task qa/mcq renders prompts with the model's chat template: set `template` ({template_list()}).")
        if ev.infer_backend == "vllm":
            _check_vllm(config, problems)
    for lexicon in ev.term_lexicon or []:
        if Path(lexicon).is_dir():
            problems.append(f"term_lexicon {lexicon} is a folder: give the `term<TAB>type` file(s) in it, comma-separated.")
        elif not Path(lexicon).is_file():
            problems.append(f"term_lexicon {lexicon} does not exist: give a `term<TAB>type` file "
                            "(e.g. ../shared/data/medical_terms.txt), or leave term_lexicon out for the default list.")
    if data.max_samples is not None and data.max_samples <= 0:
        problems.append(f"max_samples must be positive, got {data.max_samples}: an evaluation of nothing scores nothing.")
    if ev.batch_size <= 0:
        problems.append(f"batch_size must be positive, got {ev.batch_size}.")
    if config.generating.max_new_tokens <= 0:
        problems.append(f"max_new_tokens must be positive, got {config.generating.max_new_tokens}.")
    fail(problems)


def _check_vllm(config: EvalConfig, problems: list[str]) -> None:
    """What vLLM cannot serve."""
    model, ev, use_hf = config.model, config.eval, "or use infer_backend: hf"
    if importlib.util.find_spec("vllm") is None:
        problems.append("infer_backend vllm needs vLLM, which is not installed: `pip install vllm` on a GPU server "
                        f"(see README, 评测), {use_hf}.")
    if model.gguf_file:
        problems.append(f"infer_backend vllm does not load GGUF bases here: export the model to safetensors, {use_hf}.")
    if model.quantization_bit is not None:
        problems.append(f"quantization_bit with infer_backend vllm: vLLM does not quantise with bitsandbytes on load. "
                        f"Remove quantization_bit (an adapter trained with QLoRA runs on the 16-bit base), {use_hf}.")
    if model.new_special_tokens or model.resize_vocab:
        problems.append(f"new_special_tokens / resize_vocab with infer_backend vllm: vLLM serves the model's own "
                        f"vocabulary; export the resized model first (`python src/export_model.py`), {use_hf}.")
    if model.rope_scaling is not None:
        problems.append(f"rope_scaling with infer_backend vllm: set it in the model's config.json instead, {use_hf}.")
    if config.generating.num_beams > 1:
        problems.append(f"num_beams {config.generating.num_beams} with infer_backend vllm: vLLM generate() has no beam "
                        f"search; use num_beams: 1, {use_hf}.")
    if not 0 < ev.vllm_gpu_memory_utilization <= 1:
        problems.append(f"vllm_gpu_memory_utilization is a share of GPU memory in (0, 1], got {ev.vllm_gpu_memory_utilization}.")
    if ev.vllm_tensor_parallel_size < 1:
        problems.append(f"vllm_tensor_parallel_size must be at least 1, got {ev.vllm_tensor_parallel_size}.")
    adapters = model.adapter_name_or_path or []
    merge = "merge it first with `python src/export_model.py` and evaluate the export"
    if len(adapters) > 1:
        problems.append(f"infer_backend vllm serves one LoRA adapter, got {len(adapters)} ({','.join(adapters)}): "
                        f"{merge}, {use_hf}.")
    for adapter in adapters[:1]:
        config_file = Path(adapter) / "adapter_config.json"
        if not config_file.is_file():
            problems.append(f"adapter_name_or_path {adapter}: no adapter_config.json there. Give the folder a training run saved.")
            continue
        try:
            adapter_config = json.loads(config_file.read_text(encoding="utf-8"))
        except ValueError as error:
            problems.append(f"{config_file} is not valid JSON ({error}): the adapter folder is damaged; save it again.")
            continue
        if adapter_config.get("use_dora"):
            problems.append(f"adapter {adapter} is a DoRA adapter, which vLLM cannot serve: {merge}, {use_hf}.")
        if adapter_config.get("modules_to_save") or adapter_config.get("trainable_token_indices"):
            problems.append(f"adapter {adapter} also trains whole modules ({adapter_config.get('modules_to_save')}; e.g. "
                            f"resized embeddings of an expanded vocabulary), which vLLM's LoRA cannot load: {merge}, {use_hf}.")
        if largest_lora_rank(adapter_config) > 512:
            problems.append(f"adapter {adapter} has LoRA rank {largest_lora_rank(adapter_config)}; vLLM serves ranks up "
                            f"to 512: {merge}, {use_hf}.")
