"""Constants shared across layers (kept free of heavy imports)."""

from pathlib import Path

IGNORE_INDEX = -100
"""Label value that the loss ignores (PyTorch's CrossEntropyLoss default)."""

PROJECT_ROOT = Path(__file__).resolve().parents[3]
"""The checkout root when running from source (``src/llmtuner/extras`` -> root)."""

DEFAULT_DATA_DIR = "data"
DATASET_INFO_NAME = "dataset_info.json"

DEFAULT_TINY_MODEL_DIR = "models/tiny-shuzhiqihuang"
"""Where ``scripts/build_tiny_model.py`` writes the embedded default model (git-ignored)."""

SHUZHIQIHUANG_SYSTEM_PROMPT = (
    "你是数智岐黄，一名精通中西医结合的临床医生助手。请基于循证医学与中医辨证论治给出准确、审慎的解答，"
    "必要时提醒患者及时就医，不替代医生面诊。"
)
"""Default system prompt of the medical template ``shuzhiqihuang`` and of the tiny model's chat template."""

CHATML_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

RUN_RECORD = "llmtuner_args.json"
"""Written by `llmtuner train` beside the model and in every checkpoint: the arguments that made it (base, data,
template, finetuning type); export and evaluation read the template and QLoRA settings from it."""

RELEASE_INFO = "export_info.json"
"""Written into every release by `llmtuner export` (its facts: template, adapters, verification); marks a folder that
`--overwrite` may replace, and tells the serving commands which template the release was made with."""
