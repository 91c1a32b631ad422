"""The model families: one `register_template` call each.

Formats are copied from each family's own chat template (tokenizer_config.json or the model's
official code); `tests/test_template_parity.py` checks each against the real tokenizer.
"""

from ..extras.constants import SHUZHIQIHUANG_SYSTEM_PROMPT
from .template import Template, register_template

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
    description="Qwen2 / Qwen2.5 instruct models (ChatML).",
    aliases=("qwen2", "qwen2.5"),
    **_CHATML,
))

register_template(Template(
    name="qwen3",
    final_thought="<think>\n\n</think>\n\n",
    description="Qwen3 hybrid-thinking models; with enable_thinking: false the empty think block is in the prompt.",
    **{**_CHATML, "special_tokens": ("<|im_start|>", "<|im_end|>", "<think>", "</think>")},
))

register_template(Template(
    name="llama3",
    prefix="<|begin_of_text|>",
    user="<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    assistant="{content}<|eot_id|>",
    system="<|start_header_id|>system<|end_header_id|>\n\n{content}<|eot_id|>",
    stop_words=("<|eot_id|>",),
    special_tokens=("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
    trim_content=True,
    description="Llama 3 / 3.1 / 3.2 / 3.3 instruct models.",
))

register_template(Template(
    name="shuzhiqihuang",
    default_system=SHUZHIQIHUANG_SYSTEM_PROMPT,
    description="数智岐黄 medical template: ChatML with a 中西医结合 physician system prompt (the embedded model's format).",
    **_CHATML,
))
