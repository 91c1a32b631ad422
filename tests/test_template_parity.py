"""Each template must give token for token what the model's own chat template gives.

Qwen2.5, Qwen3 and Llama 3 load with AutoTokenizer from ../shared/assets and carry their official
chat templates, so their `apply_chat_template` is the reference. Llama 3.1/3.2/3.3 use the Llama 3
tokenizer (same vocabulary and header/turn ids, SOURCES.md) with their own Jinja files from
../shared/assets/chat_templates; Qwen2 uses the Qwen2.5 tokenizer (same vocabulary and ChatML ids) with
Qwen2-Instruct's chat template, quoted below because no Qwen2 file is in the assets. The conversations
are the ones `llmtuner templates check` renders (data/template_check.py).
"""

import pytest
from conftest import shared_path

from llmtuner.data.template_check import CONVERSATIONS, SYSTEM
from llmtuner.data.template_registry import get_template

# Qwen2-7B-Instruct / Qwen2-1.5B-Instruct tokenizer_config.json `chat_template` (huggingface.co/Qwen): plain ChatML
# whose default system prompt is "You are a helpful assistant." (Qwen2.5's names Qwen and Alibaba Cloud).
QWEN2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA_JINJA = {"llama3.1": "meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3.2": "meta-llama-Llama-3.2-3B-Instruct.jinja",
               "llama3.3": "meta-llama-Llama-3.3-70B-Instruct.jinja"}
FIXED_DATE = "01 Mar 2025"  # Llama 3.2's template writes today's date unless given one


def _load(folder: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(shared_path("assets", folder)))


def _ours(template, tokenizer, messages, system, **kwargs):
    ids = []
    for prompt, response in template.encode_turns(tokenizer, messages, system=system, **kwargs):
        ids += prompt + response
    return ids


def _reference(tokenizer, messages, **kwargs):
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False, **kwargs))


def _chat_template(family):
    """(chat_template, extra apply_chat_template kwargs, date for our side) for families not in their tokenizer."""
    if family == "qwen2":
        return QWEN2_CHAT_TEMPLATE, {}, None
    if family in LLAMA_JINJA:
        text = shared_path("assets", "chat_templates", LLAMA_JINJA[family]).read_text(encoding="utf-8")
        return (text, {"date_string": FIXED_DATE}, FIXED_DATE) if family == "llama3.2" else (text, {}, None)
    return None, {}, None


@pytest.mark.parametrize("family,folder", [("qwen", "qwen2.5"), ("qwen3", "qwen3"), ("llama3", "llama3"), ("qwen2", "qwen2.5"),
                                           ("llama3.1", "llama3"), ("llama3.2", "llama3"), ("llama3.3", "llama3")])
@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
@pytest.mark.parametrize("with_system", [False, True])
def test_autotokenizer_families(family, folder, conversation, with_system):
    tokenizer = _load(folder)
    chat_template, kwargs, date = _chat_template(family)
    template = get_template(family, date_string=date)
    messages = list(CONVERSATIONS[conversation])
    reference_messages = ([{"role": "system", "content": SYSTEM}] if with_system else []) + messages
    expected = _reference(tokenizer, reference_messages, chat_template=chat_template, **kwargs)
    assert _ours(template, tokenizer, messages, SYSTEM if with_system else None) == expected

    # generation prompt: everything up to the last answer, plus the assistant header
    expected_prompt = _reference(tokenizer, reference_messages[:-1], add_generation_prompt=True, chat_template=chat_template,
                                 **kwargs)
    assert template.encode_prompt(tokenizer, messages[:-1], SYSTEM if with_system else None) == expected_prompt


def test_llama31_system_header_is_the_jinja_text():
    """The exact header text, and that `llama3` (3.0) has none: a regression in either shows here by name."""
    tokenizer = _load("llama3")
    question = [{"role": "user", "content": "黄芪有什么功效？"}]
    text = tokenizer.decode(get_template("llama3.1").encode_prompt(tokenizer, question))
    assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
                           "December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user")
    dated = tokenizer.decode(get_template("llama3.2", date_string=FIXED_DATE).encode_prompt(tokenizer, question, system=" 医生 "))
    assert "Today Date: 01 Mar 2025\n\n医生<|eot_id|>" in dated  # system message trimmed, as `| trim` does
    assert "Cutting Knowledge" not in tokenizer.decode(get_template("llama3").encode_prompt(tokenizer, question))
    assert get_template("llama3.3") is get_template("llama3.1")  # an alias, not a copy that could drift


def test_qwen2_and_qwen25_default_system_prompts_differ():
    tokenizer = _load("qwen2.5")
    question = [{"role": "user", "content": "黄芪有什么功效？"}]
    qwen2 = tokenizer.decode(get_template("qwen2").encode_prompt(tokenizer, question))
    assert qwen2.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
    assert "Qwen" not in qwen2
    assert "You are Qwen, created by Alibaba Cloud." in tokenizer.decode(get_template("qwen2.5").encode_prompt(tokenizer, question))


@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
def test_qwen3_no_think(conversation):
    tokenizer = _load("qwen3")
    template = get_template("qwen3")
    messages = list(CONVERSATIONS[conversation])
    expected_prompt = _reference(tokenizer, messages[:-1], add_generation_prompt=True, enable_thinking=False)
    assert template.encode_prompt(tokenizer, messages[:-1], enable_thinking=False) == expected_prompt
    # In no-think training the empty block sits in the (masked) prompt and the answer is learned alone.
    turns = template.encode_turns(tokenizer, messages, enable_thinking=False)
    assert turns[-1][0][-len(expected_prompt):] == expected_prompt[-len(turns[-1][0]):]
    assert tokenizer.decode(turns[-1][1]) == messages[-1]["content"] + "<|im_end|>\n"
    assert _ours(template, tokenizer, messages, None, enable_thinking=False) == _reference(tokenizer, messages)


def test_stop_words_are_the_turn_end():
    for family, folder, stop in [("qwen", "qwen2.5", "<|im_end|>"), ("qwen2", "qwen2.5", "<|im_end|>"), ("llama3", "llama3", "<|eot_id|>"),
                                 ("llama3.1", "llama3", "<|eot_id|>")]:
        tokenizer = _load(folder)
        template = get_template(family)
        assert tokenizer.convert_ids_to_tokens(template.stop_token_ids(tokenizer)[0]) == stop
        # every supervised answer ends with the stop token, or the model never learns to stop
        (_, response), = template.encode_turns(tokenizer, CONVERSATIONS["single turn"])
        assert stop in tokenizer.convert_ids_to_tokens(response)


def test_template_mismatch_is_reported():
    from llmtuner.extras.errors import ConfigError

    tokenizer = _load("llama3")
    with pytest.raises(ConfigError, match="does not match the model"):
        get_template("qwen").check_tokenizer(tokenizer)


def test_unknown_template_lists_valid_ones():
    from llmtuner.extras.errors import ConfigError

    with pytest.raises(ConfigError, match="Valid templates:.*qwen3"):
        get_template("qwen4")
