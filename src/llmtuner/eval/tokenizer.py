"""The evaluator's tokenizer and chat template, shared by both engines (hf and vllm) and by the serving commands,
so every one of them renders the same prompts."""

from typing import Any

from ..data.template import Template
from ..hparams import EvalConfig, ServeConfig


def load_tokenizer_and_template(args: EvalConfig | ServeConfig) -> tuple[Any, Template | None]:
    """The tokenizer with the template's fixes; the model/template mismatch check runs here, before weights load."""
    from ..data.template_registry import get_template
    from ..model.loader import load_tokenizer

    tokenizer = load_tokenizer(args.model)
    template = get_template(args.data.template, date_string=args.data.template_date_string) if args.data.template else None
    if template is not None:
        template.fix_tokenizer(tokenizer)
    elif tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, template
