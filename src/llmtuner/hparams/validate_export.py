"""The checks of `llmtuner export`, before any file is read or weights load.

The template and default system prompt recorded by training are filled in later, by the export
preflight, which reads the adapter folders; that preflight also refuses a template that differs.
"""

from .checks import check_model_source, fail
from .config import ExportConfig


def validate_export_config(config: ExportConfig) -> None:
    """Raise one ConfigError listing every problem found."""
    model, export = config.model, config.export
    problems: list[str] = []
    if not model.model_name_or_path:
        problems.append("model_name_or_path is missing: the base model the adapter was trained on (a folder, or "
                        "`embedded` for the tiny CPU model).")
    check_model_source(model, problems, loads_quantized=False)  # the export merges into an unquantised base
    if not export.export_dir:
        problems.append("export_dir is missing: set the folder the merged release is written to.")
    if export.export_size <= 0:
        problems.append(f"export_size is gigabytes per shard and must be positive, got {export.export_size}.")
    if export.verify_tolerance is not None and export.verify_tolerance <= 0:
        problems.append(f"verify_tolerance must be positive, got {export.verify_tolerance}.")
    if export.finetuning_type == "qlora" and model.quantization_bit is None:
        model.quantization_bit = 4  # what `qlora` means in training; here it only says how the adapter was trained
    if model.quantization_bit is not None and not model.adapter_name_or_path:
        problems.append(f"quantization_bit={model.quantization_bit} says an adapter was trained with QLoRA, but no "
                        "adapter_name_or_path is given. For a quantised release use export_quantization_bit.")
    fail(problems)
