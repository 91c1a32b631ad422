"""Arguments that say which data to train on and how to turn it into token ids."""

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class DataArguments:
    template: str | None = field(
        default=None,
        metadata={"help": "Chat template of the model family (e.g. qwen, qwen3, llama3, shuzhiqihuang); required for SFT."},
    )
    dataset: list[str] | None = field(
        default=None, metadata={"help": "Training dataset names from dataset_info.json, or file paths; comma-separated."}
    )
    eval_dataset: list[str] | None = field(
        default=None, metadata={"help": "Evaluation dataset names or paths, comma-separated."}
    )
    dataset_dir: str = field(
        default="data", metadata={"help": "Folder holding dataset_info.json and the dataset files."}
    )
    cutoff_len: int = field(default=2048, metadata={"help": "Maximum tokens per sample after tokenisation."})
    train_on_prompt: bool = field(default=False, metadata={"help": "Compute the loss on prompt tokens too."})
    mask_history: bool = field(
        default=False, metadata={"help": "Supervise only the last assistant turn (history turns are masked)."}
    )
    streaming: bool = field(
        default=False, metadata={"help": "Stream datasets instead of loading them in memory (needs max_steps)."}
    )
    buffer_size: int = field(default=16384, metadata={"help": "Shuffle buffer size when streaming."})
    mix_strategy: Literal["concat", "interleave_under", "interleave_over"] = field(
        default="concat",
        metadata={"help": "How to mix several datasets: concatenate, or interleave until the first (under) or last (over) runs out."},
    )
    interleave_probs: list[float] | None = field(
        default=None, metadata={"help": "Sampling probabilities for interleaving, comma-separated, one per dataset."}
    )
    overwrite_cache: bool = field(default=False, metadata={"help": "Re-run preprocessing even when cached."})
    preprocessing_num_workers: int | None = field(
        default=None, metadata={"help": "Processes for preprocessing (datasets.map num_proc)."}
    )
    max_samples: int | None = field(
        default=None, metadata={"help": "Keep at most this many samples per dataset (for quick runs)."}
    )
    val_size: float = field(
        default=0.0, metadata={"help": "Hold out this fraction (0-1) or number (>=1) of training samples for evaluation."}
    )
    packing: bool = field(
        default=False,
        metadata={"help": "SFT: pack whole samples into cutoff_len sequences without cross-sample attention."},
    )
    deidentify: bool = field(
        default=False,
        metadata={"help": "Scrub ID, phone, record, WeChat/QQ and passport numbers, names, addresses, dates of birth and "
                          "e-mails before tokenisation (rules and measured recall: README, de-identification)."},
    )
    strict_data: bool = field(
        default=False,
        metadata={"help": "Stop with an error naming the dataset, reason, count and sample indices instead of dropping "
                          "samples (no answer, empty answer, nothing left after cutoff_len, a row without its question or "
                          "conversation, an SFT dataset without an answer column), reading a dataset without an optional column "
                          "(query, system, history) its dataset_info.json entry maps, or guessing the format of a dataset "
                          "given as a path. Off: samples are dropped and counted per reason, the rest warned about (WARNING)."},
    )
    template_date_string: str | None = field(
        default=None,
        metadata={"help": "llama3.1/3.2/3.3: the \"Today Date\" of the system header, as DD Mon YYYY (default: the "
                          "template's 26 Jul 2024, as Llama 3.1/3.3's chat templates; Llama 3.2's writes today's date, "
                          "so fix one for training and serving)."},
    )
    default_system: str | None = field(
        default=None, metadata={"help": "Override the template's default system prompt."}
    )
    enable_thinking: bool = field(
        default=True, metadata={"help": "qwen3: keep the thinking mode (False renders the empty <think> block in the prompt)."}
    )
