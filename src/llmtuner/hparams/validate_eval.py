"""The checks of `llmtuner eval`: every combination, before any model or data is loaded.

What vLLM cannot serve is refused here too: starting vLLM on a 7B model takes minutes.
"""

from pathlib import Path

from .checks import check_adapter_folders, check_model_source, fail, template_list
from .config import EvalConfig
from .vllm_checks import check_vllm


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
    """What vLLM cannot serve (shared with the serving commands)."""
    check_vllm(config.model, config.generating, config.eval, problems)

