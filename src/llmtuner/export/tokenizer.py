"""The release's tokenizer: the one the trainer saved, EOS/pad as the template sets them, the training chat template."""

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

from ..data.template import Template
from ..extras.logging import get_logger
from ..hparams import ModelArguments
from .chat_template import parity_failures, render_jinja

logger = get_logger(__name__)


@dataclasses.dataclass
class ChatTemplateChoice:
    origin: str
    """"model" (the tokenizer's own template matched the training format) or "generated"."""
    failures: list[str]
    """Probe conversations where even the chosen template differs from the training format (normally none)."""


def load_release_tokenizer(model_args: ModelArguments, source: str, template: Template) -> Any:
    """Load the tokenizer from `source` as training did, with EOS/pad fixed by the template (checks its tokens)."""
    from ..model.loader import load_tokenizer

    # a tokenizer saved beside an adapter is a plain folder even when the base is a GGUF file
    from_base = model_args.gguf_file if Path(source) == Path(model_args.model_name_or_path or "") else None
    tokenizer = load_tokenizer(dataclasses.replace(model_args, model_name_or_path=source, gguf_file=from_base))
    template.fix_tokenizer(tokenizer)
    return tokenizer


def set_chat_template(tokenizer: Any, template: Template) -> ChatTemplateChoice:
    """Keep the tokenizer's own chat template if it renders the training format, else write a generated one.

    A model's own template usually also handles tools and other extras, so it wins when it agrees with
    training token for token on the probe conversations; otherwise (another default system prompt, a
    base model without a template, a custom template) the generated one is used.
    """
    own = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    if own and not parity_failures(tokenizer, template, own):
        logger.info("Chat template: the tokenizer's own matches template %s token for token; kept.", template.name)
        return ChatTemplateChoice("model", [])
    generated = render_jinja(template)
    failures = parity_failures(tokenizer, template, generated)
    tokenizer.chat_template = generated
    if failures:
        # Rendering text cannot reproduce content encoded apart from its format (sentencepiece families):
        # the release still works, but prompts built by apply_chat_template differ slightly from training.
        logger.warning("The generated chat template differs from template %s's encoding on %d probe(s), e.g. %s. "
                       "Check prompts built with apply_chat_template, or pass your own template to vLLM "
                       "(--chat-template).", template.name, len(failures), failures[0])
    else:
        logger.info("Chat template: generated from template %s (apply_chat_template == training encoding).", template.name)
    return ChatTemplateChoice("generated", failures)


def save_release_tokenizer(tokenizer: Any, folder: Path, class_source: str) -> None:
    """save_pretrained (left padding, the chat template also in tokenizer_config.json), then give
    tokenizer_config.json the base's `tokenizer_class`/`auto_map` and code files.

    save_pretrained records the class the tokenizer loaded as (e.g. `TokenizersBackend` for the folder the
    trainer wrote). Next to the release's config.json, AutoTokenizer would then pick a class by model type,
    which may rebuild the pre-tokenizer (see stack-notes); the base's own choice is the one known to load it
    exactly.
    """
    tokenizer.padding_side = "left"  # a release generates: batched prompts must end where the answer starts
    tokenizer.save_pretrained(str(folder))
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(tokenizer.chat_template, str):
        # transformers 5 writes chat_template.jinja; tools that read only tokenizer_config.json (older
        # transformers, some serving stacks) find the same template here
        config["chat_template"] = tokenizer.chat_template
    base_config_path = Path(class_source) / "tokenizer_config.json"
    base_config = json.loads(base_config_path.read_text(encoding="utf-8")) if base_config_path.is_file() else {}
    for key in ("tokenizer_class", "auto_map"):
        if key in base_config:
            config[key] = base_config[key]
    for key in ("is_local", "local_files_only"):  # how this process loaded it, not a property of the tokenizer
        config.pop(key, None)
    for entry in (base_config.get("auto_map") or {}).values():
        for reference in entry if isinstance(entry, list) else [entry]:
            module = Path(class_source) / f"{str(reference or '').rsplit('.', 1)[0]}.py"
            if reference and module.is_file():
                shutil.copy2(module, folder / module.name)
    path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
