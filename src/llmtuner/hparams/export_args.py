"""Arguments of `llmtuner export` / `python src/export_model.py` (with ModelArguments)."""

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class ExportArguments:
    template: str | None = field(
        default=None,
        metadata={"help": "Chat template the adapter was trained with (qwen, qwen3, llama3, shuzhiqihuang, ...): "
                          "written into the tokenizer so apply_chat_template gives the training format. Default: "
                          "the one the adapter's llmtuner_args.json records."},
    )
    export_dir: str | None = field(
        default=None, metadata={"help": "Folder of the release: sharded safetensors, tokenizer, generation_config, README.md."}
    )
    export_size: float = field(default=5.0, metadata={"help": "Gigabytes per safetensors shard (max_shard_size)."})
    export_dtype: Literal["auto", "bf16", "fp16", "fp32"] = field(
        default="auto", metadata={"help": "Weights dtype of the release; auto = the base model config's dtype (fp32 if unset)."}
    )
    export_quantization_bit: Literal[4, 8] | None = field(
        default=None,
        metadata={"help": "Also quantise the release to 4 or 8 bits with bitsandbytes (after merging in full precision)."},
    )
    finetuning_type: Literal["lora", "qlora"] = field(
        default="lora",
        metadata={"help": "How the adapter was trained; qlora (like quantization_bit: 4) is still merged into the "
                          "unquantised base, never into 4-bit weights."},
    )
    default_system: str | None = field(
        default=None, metadata={"help": "The default system prompt training used, if it overrode the template's; "
                                        "default: the one the adapter's llmtuner_args.json records."}
    )
    force_template: bool = field(
        default=False,
        metadata={"help": "Write `template` / `default_system` into the release even when they differ from the ones "
                          "the adapter's llmtuner_args.json records (refused otherwise)."},
    )
    dataset: list[str] | None = field(
        default=None, metadata={"help": "Training dataset names for the model card (the adapter folder does not record them)."}
    )
    eval_report: list[str] | None = field(
        default=None, metadata={"help": "Evaluation output folder(s) holding metrics.json, comma-separated: shown in the model card."}
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "Replace an existing non-empty export_dir (only after the new release is complete and verified)."},
    )
    skip_verify: bool = field(
        default=False, metadata={"help": "Skip the logit comparison and the reload/generate check (not recommended)."}
    )
    merge_in_fp32: bool = field(
        default=True,
        metadata={"help": "Merge in fp32 and cast once (one rounding per weight; merging in bf16 gave 35% larger "
                          "weight errors); false merges in the export dtype, halving peak memory for 16-bit exports."},
    )
    verify_tolerance: float | None = field(
        default=None,
        metadata={"help": "Largest allowed logit difference, relative to max(1, largest logit); default by dtype: "
                          "fp32 1e-3, fp16 2e-2, bf16 1e-1."},
    )
