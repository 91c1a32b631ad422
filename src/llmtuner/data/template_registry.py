"""The chat templates by name: one `register_template` call per model family, and the lookup.

Formats are copied from each family's own chat template (tokenizer_config.json or the model's
official code); `tests/test_template_parity*.py` check each token for token (README's template table says
against which tokenizer), and `llmtuner templates check` (`template_check.py`) runs the same comparison on
a user's model folder.
"""

import dataclasses

from ..extras.constants import SHUZHIQIHUANG_SYSTEM_PROMPT
from ..extras.errors import ConfigError
from .template import Template

TEMPLATES: dict[str, Template] = {}


def register_template(template: Template) -> Template:
    for name in (template.name, *template.aliases):
        if name in TEMPLATES:
            raise ValueError(f"template {name!r} registered twice")
        TEMPLATES[name] = template
    return template


_CHATML = dict(
    user="<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n",
    assistant="{content}<|im_end|>\n",
    system="<|im_start|>system\n{content}<|im_end|>\n",
    stop_words=("<|im_end|>",),
    special_tokens=("<|im_start|>", "<|im_end|>"),
)

register_template(Template(
    name="default",
    user="Human: {content}\nAssistant: ",
    assistant="{content}\n",
    system="System: {content}\n",
    description="Plain-text fallback for base models without a chat format (EOS stays the tokenizer's).",
))

register_template(Template(
    name="qwen",
    default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    description="Qwen2.5 instruct models (ChatML, Qwen2.5's default system prompt).",
    aliases=("qwen2.5",),
    **_CHATML,
))

# Qwen2-Instruct (and Qwen2-Math/-VL chat) ship plain ChatML whose default system prompt is only
# "You are a helpful assistant."; Qwen2.5 introduced the "You are Qwen, created by Alibaba Cloud." one.
register_template(Template(
    name="qwen2",
    default_system="You are a helpful assistant.",
    description="Qwen2 instruct models (ChatML, default system prompt \"You are a helpful assistant.\").",
    **_CHATML,
))

register_template(Template(
    name="qwen3",
    final_thought="<think>\n\n</think>\n\n",
    description="Qwen3 hybrid-thinking models; with enable_thinking: false the empty think block is in the prompt.",
    **{**_CHATML, "special_tokens": ("<|im_start|>", "<|im_end|>", "<think>", "</think>")},
))

_LLAMA3 = dict(
    prefix="<|begin_of_text|>",
    user="<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    assistant="{content}<|eot_id|>",
    stop_words=("<|eot_id|>",),
    special_tokens=("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
    trim_content=True,
)

register_template(Template(
    name="llama3",
    system="<|start_header_id|>system<|end_header_id|>\n\n{content}<|eot_id|>",
    description="Llama 3 (3.0) instruct models (no date header; for 3.1/3.2/3.3 use llama3.1).",
    **_LLAMA3,
))

# Llama 3.1/3.2/3.3-Instruct: their chat templates always write a system turn that starts with
# "Cutting Knowledge Date: December 2023\nToday Date: {date_string}\n\n" (without tools; the system message,
# trimmed, follows; with none the turn holds only the dates). 3.1 and 3.3 default date_string to "26 Jul 2024";
# 3.2 uses the current date (strftime_now), so a 3.2 run fixes it with `template_date_string`.
register_template(Template(
    name="llama3.1",
    system=("<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
            "Today Date: {date_string}\n\n{content}<|eot_id|>"),
    always_system=True,
    date_string="26 Jul 2024",
    description="Llama 3.1 / 3.2 / 3.3 instruct models (system header with knowledge and today dates; "
                "template_date_string sets the date, default 26 Jul 2024).",
    aliases=("llama3.2", "llama3.3"),
    **_LLAMA3,
))

register_template(Template(
    name="shuzhiqihuang",
    default_system=SHUZHIQIHUANG_SYSTEM_PROMPT,
    description="数智岐黄 medical template: ChatML with a 中西医结合 physician system prompt (the embedded model's format).",
    **_CHATML,
))

register_template(Template(
    name="smollm2",
    default_system="You are a helpful AI assistant named SmolLM, trained by Hugging Face",
    description="SmolLM2 instruct models (ChatML with SmolLM's system prompt); the real model CI tunes.",
    aliases=("smollm",),
    **_CHATML,
))

# ---- sentencepiece families (tests/test_template_parity_sentencepiece.py) ------------------------

# ChatGLM3-6B, after its official tokenization_chatglm.py: `build_chat_input` puts `[gMASK]` `sop` first,
# then per message `<|role|>` + encode(f"{metadata}\n") + encode(content), every encode a separate
# sentencepiece call that adds its own dummy-prefix "▁" (hence encode_content_separately; the shipped
# chat_template's "\n {content}" spells that space out); the generation prompt ends with `<|assistant|>`,
# so the "\n" after it is the first thing the model writes. There is no end-of-turn marker: a reply
# ends where the next `<|user|>`/`<|observation|>` begins, and the official fine-tuning code
# (finetune_demo `process_batch`) appends EOS `</s>` once, after the last message.
# Stop words: the model's generation_config stops on [2, 64795, 64797] = `</s>`, `<|user|>`,
# `<|observation|>` (LLaMA-Factory: stop_words <|user|>, <|observation|> with EOS kept, efficient_eos).
# `</s>` comes first because the first stop word is what EOS is set to, and EOS must stay `</s>`:
# it is what training appends and what the model was tuned to emit at the end.
register_template(Template(
    name="chatglm3",
    prefix="[gMASK]sop",
    system="<|system|>\n{content}",
    user="<|user|>\n{content}<|assistant|>",
    assistant="\n{content}",
    conversation_end="</s>",
    stop_words=("</s>", "<|user|>", "<|observation|>"),
    special_tokens=("[gMASK]", "sop", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>", "</s>"),
    encode_content_separately=True,
    description="ChatGLM3-6B (role tokens, [gMASK]sop prefix; EOS </s> once at the end, stops on <|user|>/<|observation|>).",
))

# Baichuan2-7B/13B-Chat, after its official generation_utils.build_chat_input: the system text encoded
# as plain text first, then per message user token `<reserved_106>` (195) or assistant token
# `<reserved_107>` (196) + encode(content) (separate encodes; the tokenizer adds no BOS and no dummy
# prefix); the generation prompt appends 196. No end-of-turn marker: the official fine-tune.py appends
# EOS `</s>` once after the last message (as LLaMA-Factory's efficient_eos). It teaches EOS after
# earlier replies through a shifted label at the next user token; here only the final EOS is learned.
# EOS stays `</s>` (generation_config eos_token_id 2); there is no default system prompt.
register_template(Template(
    name="baichuan2",
    system="{content}",
    user="<reserved_106>{content}<reserved_107>",
    assistant="{content}",
    conversation_end="</s>",
    stop_words=("</s>",),
    special_tokens=("<reserved_106>", "<reserved_107>", "</s>"),
    encode_content_separately=True,
    description="Baichuan2 chat models (<reserved_106>/<reserved_107> role tokens; EOS </s> once at the end).",
))

# Yi-6B/34B-Chat: the chat models' tokenizer_config `chat_template` is plain ChatML with no default system
# prompt (`{% for message in messages %}<|im_start|>role\n...<|im_end|>\n...`, generation prompt
# `<|im_start|>assistant\n`). `<|im_start|>` (6) and `<|im_end|>` (7) are vocabulary pieces; replies end
# with `<|im_end|>`, which becomes EOS (the base tokenizer's EOS is `<|endoftext|>`).
register_template(Template(
    name="yi",
    description="Yi-6B/34B-Chat (ChatML, no default system prompt).",
    **_CHATML,
))

# InternLM2-chat, after the tokenizer_config `chat_template` (`{{ bos_token }}` + ChatML) and the official
# modeling_internlm2.py `build_inputs`/`chat`: BOS `<s>` first (written here because the engine encodes
# without special tokens), the system turn carries chat()'s default `meta_instruction` when the caller
# gives none, and generation stops on `<|im_end|>` or `</s>` (chat() passes both as eos_token_id);
# `<|im_end|>` first, so it becomes the EOS the model learns.
INTERNLM2_SYSTEM = (
    "You are an AI assistant whose name is InternLM (书生·浦语).\n"
    "- InternLM (书生·浦语) is a conversational language model that is developed by Shanghai AI Laboratory "
    "(上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n"
    "- InternLM (书生·浦语) can understand and communicate fluently in the language chosen by the user such "
    "as English and 中文."
)

register_template(Template(
    name="intern2",
    prefix="<s>",
    default_system=INTERNLM2_SYSTEM,
    description="InternLM2 / InternLM2.5 chat models (BOS + ChatML, default InternLM system prompt).",
    aliases=("internlm2",),
    **{**_CHATML, "stop_words": ("<|im_end|>", "</s>"), "special_tokens": ("<s>", "<|im_start|>", "<|im_end|>")},
))


def get_template(name: str, date_string: str | None = None) -> Template:
    """The registered template; `date_string` replaces the date of templates that show one (llama3.1)."""
    if name not in TEMPLATES:
        valid = ", ".join(sorted(TEMPLATES))
        raise ConfigError(f"Unknown template {name!r}. Valid templates: {valid}.")
    template = TEMPLATES[name]
    if date_string is not None:
        if not template.has_date:
            raise ConfigError(f"template_date_string is set, but template {name!r} shows no date: it applies to "
                              f"{', '.join(date_template_names())}. Remove it.")
        template = dataclasses.replace(template, date_string=date_string)
    return template


def date_template_names() -> list[str]:
    """The templates whose system turn shows a date (`template_date_string` applies to them)."""
    return sorted(name for name, template in TEMPLATES.items() if template.has_date)


def template_names() -> list[str]:
    return sorted(TEMPLATES)
