"""数智岐黄 finetune: fine-tuning LLMs for integrated Chinese-Western medicine.

Importing this package is cheap on purpose: torch, transformers and peft are imported
inside the functions that need them, so `llmtuner --help` answers in about a second.
"""

__version__ = "0.1.0"
