"""Everything about an export that can be checked before any weights load, gathered into an `ExportPlan`.

Reads only small files (adapter_config.json, the base config, metrics.json): a wrong path, a wrong
template or an export_dir that would swallow its own inputs fails in a second, not after minutes of loading.
"""

import dataclasses
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.template import Template
from ..data.template_registry import get_template, template_names
from ..extras.constants import RUN_RECORD
from ..extras.errors import ConfigError
from ..extras.logging import get_logger
from ..hparams import ExportConfig
from ..hparams.checks import ADAPTER_WEIGHTS, check_adapter_folders
from .provenance import read_run_record
from .publish import check_target

logger = get_logger(__name__)

DTYPE_NAMES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


@dataclass
class AdapterInfo:
    path: Path
    config: dict[str, Any]
    weights: Path

    @property
    def kind(self) -> str:
        """LoRA or DoRA (rsLoRA noted): what the card and the logs call it."""
        name = "DoRA" if self.config.get("use_dora") else "LoRA"
        return name + (" (rsLoRA)" if self.config.get("use_rslora") else "")


@dataclass
class ExportPlan:
    base_path: str
    """The base model folder (`embedded` resolved) or hub id."""
    adapters: list[AdapterInfo]
    template: Template
    export_dir: Path
    export_dtype: str
    """fp32, bf16 or fp16: the release's weights."""
    merge_dtype: str
    """The precision the adapters are merged (and verified) in."""
    tokenizer_dir: str
    """The last adapter folder holding a tokenizer (the trainer saves it there), else the base."""
    qlora: bool
    eval_reports: list[Path] = field(default_factory=list)
    datasets: str | None = None
    """Training datasets: `dataset` when given, else what the training run recorded."""
    gguf_file: str | None = None
    """The GGUF file inside base_path the base was read from, if any."""

    @property
    def base_source(self) -> str:
        """The base as a user names it: the folder, or the GGUF file in it."""
        return str(Path(self.base_path) / self.gguf_file) if self.gguf_file else self.base_path

    @property
    def facts_dir(self) -> Path | None:
        """Where trainer_state.json & co. are read for the model card: the last adapter, or a fine-tuned base."""
        if self.adapters:
            return self.adapters[-1].path
        base = Path(self.base_path)
        return base if base.is_dir() else None


def release_template(export: Any, adapters: list[AdapterInfo]) -> Template:
    """The template (and default system prompt) the release's tokenizer gets: the one training recorded in
    the adapters' llmtuner_args.json unless `template` / `default_system` are given; a different one than
    recorded is refused unless `force_template`, so a wrong chat format never ships silently."""
    recorded = [(adapter.path, (read_run_record(adapter.path).get("data") or {})) for adapter in adapters]
    recorded = [(path, data) for path, data in recorded if data.get("template")]
    name = export.template or (recorded[-1][1]["template"] if recorded else None)
    if not name:
        raise ConfigError("template is missing and no adapter records one (llmtuner_args.json, written by "
                          "`llmtuner train`): give the chat template the adapter was trained with, e.g. "
                          "`--template qwen`; it goes into the release's tokenizer.")
    template = get_template(name)
    problems = []
    for path, data in recorded:
        trained = get_template(data["template"]) if data["template"] in template_names() else None
        if trained is None or trained.name != template.name:
            problems.append(f"template {name!r} differs from {data['template']!r}, which {path / RUN_RECORD} records")
            continue
        trained_system = data.get("default_system")
        wanted = export.default_system if export.default_system is not None else trained_system
        if wanted != trained_system and (trained_system is not None or wanted != template.default_system):
            problems.append(f"default_system differs from the one {path / RUN_RECORD} records")
    if problems and not export.force_template:
        raise ConfigError("The release would get another chat format than the one the adapter was trained with: "
                          + "; ".join(problems) + ". Leave template / default_system out to use the recorded ones, or "
                          "set force_template: true if the other format is really meant.")
    default_system = export.default_system
    if default_system is None and recorded and not problems:
        default_system = recorded[-1][1].get("default_system")
    if default_system is not None:
        template = dataclasses.replace(template, default_system=default_system)
    date_string = recorded[-1][1].get("template_date_string") if recorded and not problems else None
    if date_string and template.has_date:  # llama3.1 trained with another "Today Date": the release writes the same
        template = dataclasses.replace(template, date_string=date_string)
    return template


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path} ({what}) could not be read: {error}.") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path} ({what}) must hold a JSON object.")
    return data


def _read_adapter(path_text: str) -> AdapterInfo:
    """One adapter folder, checked as training and evaluation check it (hparams.checks.check_adapter_folders)."""
    problems: list[str] = []
    check_adapter_folders([path_text], problems, complete=True, generative=True)
    if problems:
        raise ConfigError(" ".join(problems))
    path = Path(path_text)
    config = _read_json(path / "adapter_config.json", "adapter config")
    weights = next(path / name for name in ADAPTER_WEIGHTS if (path / name).is_file())
    return AdapterInfo(path=path, config=config, weights=weights)


def _same_model(given: str, recorded: str) -> bool:
    """Paths differ across machines: the same folder, or the same last path component, counts as the same model."""
    if Path(given).exists() and Path(recorded).exists():
        return Path(given).resolve() == Path(recorded).resolve()
    return Path(given.rstrip("/")).name == Path(recorded.rstrip("/")).name


def _base_dtype(base_path: str, args: ExportConfig) -> str:
    """The base config's dtype as fp32/bf16/fp16 (reads config.json only)."""
    from transformers import AutoConfig

    from ..model.loader import source_kwargs

    model = args.model
    try:
        config = AutoConfig.from_pretrained(base_path, **source_kwargs(model))
    except (OSError, ValueError) as error:
        raise ConfigError(f"Could not read the base model's config from {base_path!r}: {error}. Give the folder of "
                          "the model the adapter was trained on as model_name_or_path.") from error
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    dtype = getattr(text_config, "dtype", None) or getattr(config, "dtype", None)
    name = DTYPE_NAMES.get(str(dtype).replace("torch.", ""))
    if name is None:
        logger.info("The base config names no 16/32-bit dtype (%s): export_dtype auto means fp32.", dtype)
        return "fp32"
    return name


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def plan_export(args: ExportConfig) -> ExportPlan:
    """Check every input and decide dtypes, sources and targets; raises ConfigError naming the fix."""
    from ..model.loader import resolve_model_path

    model, export = args.model, args.export
    adapters = [_read_adapter(path) for path in model.adapter_name_or_path or []]
    template = release_template(export, adapters)
    base_path = resolve_model_path(model.model_name_or_path or "")
    for adapter in adapters:
        recorded = adapter.config.get("base_model_name_or_path")
        if recorded and not _same_model(base_path, recorded):
            logger.warning("Adapter %s was trained on %r, but the base given is %r. Continuing, since paths differ "
                           "across machines; a base of another shape fails when the adapter loads.",
                           adapter.path, recorded, base_path)

    export_dir = Path(export.export_dir or "").absolute()
    sources = [(a.path, "adapter folder") for a in adapters]
    if Path(base_path).is_dir():
        sources.append((Path(base_path), "base model folder"))
    eval_reports = [Path(folder) for folder in export.eval_report or []]
    for folder, what in [*sources, *((f, "evaluation folder") for f in eval_reports)]:
        if folder.exists() and _inside(export_dir, folder):
            raise ConfigError(f"export_dir {export_dir} is inside the {what} {folder}: the release would mix with its "
                              "inputs. Choose a folder outside it.")
        if folder.exists() and _inside(folder, export_dir):
            raise ConfigError(f"The {what} {folder} is inside export_dir {export_dir}, which the export replaces. "
                              "Choose another export_dir.")
    check_target(export_dir, export.overwrite)

    for folder in eval_reports:
        metrics = _read_json(folder / "metrics.json", "evaluation metrics") if (folder / "metrics.json").is_file() else None
        if metrics is None or "overall" not in metrics:
            raise ConfigError(f"eval_report {folder} holds no metrics.json with an `overall` section: give the "
                              "output_dir of a finished `llmtuner eval` run.")

    if export.export_quantization_bit is not None and importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(f"export_quantization_bit={export.export_quantization_bit} needs bitsandbytes: "
                          "`pip install 'bitsandbytes>=0.50.2'` (CUDA GPUs, or its CPU backend).")

    base_dtype = _base_dtype(base_path, args)
    export_dtype = base_dtype if export.export_dtype == "auto" else export.export_dtype
    merge_dtype = "fp32" if export.merge_in_fp32 else export_dtype
    record = read_run_record(adapters[-1].path) if adapters else {}
    bits = model.quantization_bit or (record.get("model") or {}).get("quantization_bit")
    qlora = bits is not None
    if qlora:
        how = "as given" if model.quantization_bit else f"as recorded in {adapters[-1].path / 'llmtuner_args.json'}"
        logger.info("The adapter was trained with QLoRA (%d-bit base, %s): it is merged into the unquantised base "
                    "loaded in %s, never into %d-bit weights.", bits, how, merge_dtype, bits)
    datasets = export.dataset or (record.get("data") or {}).get("dataset")
    if isinstance(datasets, list):  # records from before lists were parsed once hold "a,b"
        datasets = ", ".join(datasets)
    tokenizer_dir = next((str(a.path) for a in reversed(adapters) if (a.path / "tokenizer_config.json").is_file()),
                         base_path)
    return ExportPlan(base_path=base_path, adapters=adapters, template=template, export_dir=export_dir,
                      export_dtype=export_dtype, merge_dtype=merge_dtype, tokenizer_dir=tokenizer_dir, qlora=qlora,
                      eval_reports=eval_reports, datasets=datasets, gguf_file=model.gguf_file)
