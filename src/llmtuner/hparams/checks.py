"""Checks that more than one command's validator makes (model source, template list and date, DeepSpeed stage,
adapter folders).

Each validator collects every problem it finds in a list and raises one ConfigError at the end
(`fail`), so a user fixes a config in one round instead of one error at a time.
"""

import importlib.util
import json
from datetime import datetime
from pathlib import Path

from ..extras.errors import ConfigError
from .model_args import ModelArguments


def fail(problems: list[str]) -> None:
    if problems:
        raise ConfigError("Invalid configuration:\n  - " + "\n  - ".join(problems))


def template_list() -> str:
    """The registered template names, for messages. The registry lives in `data.template` (which imports only
    `extras`); reading it here keeps the list from going stale and makes no import cycle."""
    from ..data.template_registry import template_names

    return ", ".join(template_names())


def check_template_date(template: str | None, date_string: str | None, problems: list[str],
                        flag: str = "template_date_string") -> None:
    """A date for the template's "Today Date" line must be written as Llama 3.1's template writes it (strftime
    "%d %b %Y", e.g. "26 Jul 2024") and go with a template that shows a date (llama3.1 and its aliases)."""
    if date_string is None:
        return
    try:
        written = datetime.strptime(date_string, "%d %b %Y").strftime("%d %b %Y")
    except ValueError:
        written = None
    if written != date_string:
        problems.append(f"{flag} {date_string!r} is not a date as Llama 3.1's chat template writes it: use DD Mon "
                        "YYYY with an English month, e.g. \"26 Jul 2024\".")
    from ..data.template_registry import TEMPLATES, date_template_names

    if template in TEMPLATES and not TEMPLATES[template].has_date:
        problems.append(f"{flag} is set, but template {template!r} shows no date: it applies to "
                        f"{', '.join(date_template_names())}. Remove it, or use one of those templates.")


def check_model_source(model: ModelArguments, problems: list[str], loads_quantized: bool = True) -> None:
    """A .gguf model_name_or_path becomes folder + gguf_file; a GGUF base needs the gguf package and its file."""
    path = model.model_name_or_path or ""
    if path.endswith(".gguf") and model.gguf_file is None:
        model.model_name_or_path, model.gguf_file = str(Path(path).parent), Path(path).name
    if model.gguf_file is None:
        return
    if importlib.util.find_spec("gguf") is None:
        problems.append("gguf_file needs the gguf package to read GGUF weights: `pip install 'gguf>=0.19'`.")
    folder = Path(model.model_name_or_path or ".")
    if folder.is_dir() and not (folder / model.gguf_file).is_file():
        found = sorted(p.name for p in folder.glob("*.gguf"))
        problems.append(f"gguf_file {model.gguf_file!r} is not in {folder}"
                        + (f"; GGUF files there: {', '.join(found)}." if found else ", which holds no .gguf file."))
    if loads_quantized and model.quantization_bit is not None:
        problems.append("quantization_bit with a GGUF base: GGUF weights are dequantized on load and cannot be "
                        "re-quantized by bitsandbytes in the same step. Use finetuning_type: lora, or export the "
                        "base to safetensors first.")


def runs_remote_model_code(model: ModelArguments) -> bool:
    """The model class comes from the model folder (config.json auto_map, trust_remote_code), not transformers."""
    config = Path(model.model_name_or_path or "") / "config.json"
    if not model.trust_remote_code or not config.is_file():
        return False
    try:
        auto_map = json.loads(config.read_text(encoding="utf-8")).get("auto_map") or {}
    except (OSError, ValueError):
        return False  # an unreadable config is reported when the model loads
    return "AutoModelForCausalLM" in auto_map


def deepspeed_stage(config: object) -> int | None:
    """The ZeRO stage of a deepspeed config (a path to JSON, or a dict); None when unreadable or absent."""
    if isinstance(config, str) and Path(config).is_file():
        try:
            config = json.loads(Path(config).read_text(encoding="utf-8"))
        except ValueError:
            return None  # the trainer reports a broken DeepSpeed file itself
    if not isinstance(config, dict):
        return None
    stage = (config.get("zero_optimization") or {}).get("stage")
    return int(stage) if isinstance(stage, (int, str)) and str(stage).isdigit() else None


def largest_lora_rank(adapter_config: dict) -> int:
    """The adapter's largest LoRA rank: `r`, or a larger one in `rank_pattern`."""
    return max([int(adapter_config.get("r", 8)), *map(int, (adapter_config.get("rank_pattern") or {}).values())])


ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
ADAPTER_FOLDER_HINT = "Give the output_dir of a LoRA training run or one of its checkpoint-N folders (comma-separated for several)"


def check_adapter_folders(paths: list[str] | None, problems: list[str], must_exist: bool = True,
                          complete: bool = False, key: str = "adapter_name_or_path", generative: bool = False) -> None:
    """Every adapter_name_or_path must be a LoRA adapter folder. A full model's folder, an empty folder or a
    prefix-tuning adapter otherwise fails deep inside peft, after the base weights have loaded.

    `must_exist`: a path that does not exist is a problem (False: left to a later check). `complete`: also the
    adapter weights and a named peft_type (what loading needs; parsing checks the rest, without reading weights).
    `key`: how messages name the setting (the serving commands' `adapters NAME`). `generative`: the adapter must
    generate text (eval, export, serving, non-rm training), so a reward model's adapter (task SEQ_CLS) is refused.
    """
    for text in paths or []:
        path, what = Path(text), f"{key} {text}"
        if not path.exists():
            if must_exist:
                problems.append(f"{what} does not exist, so there is no adapter_config.json to read. {ADAPTER_FOLDER_HINT}.")
            continue
        if not path.is_dir():
            problems.append(f"{what} is a file, not a folder: give the folder that holds adapter_config.json.")
            continue
        config_file = path / "adapter_config.json"
        if not config_file.is_file():
            if (path / "config.json").is_file():
                problems.append(f"{what} holds a whole model (config.json) but no adapter_config.json: a full or freeze "
                                "fine-tune is not an adapter. Give it as model_name_or_path and leave adapter_name_or_path out.")
            else:
                state = "is empty" if not any(path.iterdir()) else "holds no adapter_config.json"
                problems.append(f"{what} {state}, so it is not a LoRA adapter folder (no adapter_config.json). {ADAPTER_FOLDER_HINT}.")
            continue
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            problems.append(f"{config_file} could not be read ({error}): the adapter folder is damaged. Save it again, or "
                            "use one of the run's checkpoint-N folders.")
            continue
        if not isinstance(config, dict):
            problems.append(f"{config_file} must hold a JSON object (peft's adapter config): the adapter folder is damaged.")
            continue
        peft_type = config.get("peft_type")
        if peft_type is not None and str(peft_type).upper() != "LORA":
            problems.append(f"{what} is a {peft_type} adapter (peft_type in adapter_config.json); only LoRA adapters "
                            "(incl. DoRA and rsLoRA) can be trained on, evaluated or merged here. Train a LoRA adapter "
                            "(finetuning_type: lora), or leave adapter_name_or_path out.")
            continue
        if generative and str(config.get("task_type", "")).upper() == "SEQ_CLS":
            problems.append(f"{what} is a reward model's adapter (task_type SEQ_CLS, from stage rm): it scores answers "
                            "and cannot generate or be merged into a chat model. Use the adapter (or a checkpoint-N) of "
                            "an sft/dpo/kto/orpo/simpo/grpo run; a reward model is used through reward_funcs in stage grpo.")
            continue
        if complete and peft_type is None:
            problems.append(f"{config_file} names no peft_type, so peft cannot load it: the adapter was not saved by "
                            "peft. Save it again with save_pretrained, or use one of the run's checkpoint-N folders.")
        if complete and not any((path / name).is_file() for name in ADAPTER_WEIGHTS):
            problems.append(f"{what} has adapter_config.json but no {' or '.join(ADAPTER_WEIGHTS)}: the adapter was not "
                            "saved completely. Use one of the run's checkpoint-N folders, or train again.")
