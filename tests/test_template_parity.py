"""Each template must give token for token what the model's own chat template gives.

Qwen2.5, Qwen3 and Llama 3 load with AutoTokenizer from ../shared/assets and carry their official
chat templates, so their `apply_chat_template` is the reference.
"""

import pytest
from conftest import shared_path

from llmtuner.data.template_registry import get_template

SYSTEM = "你是一名中西医结合科医生。"
CONVERSATIONS = {
    "single": [
        {"role": "user", "content": "黄芪有什么功效？"},
        {"role": "assistant", "content": "黄芪补气升阳，益卫固表，利水消肿。"},
    ],
    "multi": [
        {"role": "user", "content": "最近总是口干多饮，血糖偏高。"},
        {"role": "assistant", "content": "建议查空腹血糖和糖化血红蛋白（HbA1c）。"},
        {"role": "user", "content": "中医怎么看？ What about metformin?"},
        {"role": "assistant", "content": "中医属消渴范畴；二甲双胍（metformin）是2型糖尿病一线用药。"},
    ],
}


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


@pytest.mark.parametrize("family,folder", [("qwen", "qwen2.5"), ("qwen3", "qwen3"), ("llama3", "llama3")])
@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
@pytest.mark.parametrize("with_system", [False, True])
def test_autotokenizer_families(family, folder, conversation, with_system):
    tokenizer = _load(folder)
    template = get_template(family)
    messages = CONVERSATIONS[conversation]
    reference_messages = ([{"role": "system", "content": SYSTEM}] if with_system else []) + messages
    expected = _reference(tokenizer, reference_messages)
    assert _ours(template, tokenizer, messages, SYSTEM if with_system else None) == expected

    # generation prompt: everything up to the last answer, plus the assistant header
    expected_prompt = _reference(tokenizer, reference_messages[:-1], add_generation_prompt=True)
    assert template.encode_prompt(tokenizer, messages[:-1], SYSTEM if with_system else None) == expected_prompt


@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
def test_qwen3_no_think(conversation):
    tokenizer = _load("qwen3")
    template = get_template("qwen3")
    messages = CONVERSATIONS[conversation]
    expected_prompt = _reference(tokenizer, messages[:-1], add_generation_prompt=True, enable_thinking=False)
    assert template.encode_prompt(tokenizer, messages[:-1], enable_thinking=False) == expected_prompt
    # In no-think training the empty block sits in the (masked) prompt and the answer is learned alone.
    turns = template.encode_turns(tokenizer, messages, enable_thinking=False)
    assert turns[-1][0][-len(expected_prompt):] == expected_prompt[-len(turns[-1][0]):]
    assert tokenizer.decode(turns[-1][1]) == messages[-1]["content"] + "<|im_end|>\n"
    assert _ours(template, tokenizer, messages, None, enable_thinking=False) == _reference(tokenizer, messages)


def test_stop_words_are_the_turn_end():
    for family, folder, stop in [("qwen", "qwen2.5", "<|im_end|>"), ("llama3", "llama3", "<|eot_id|>")]:
        tokenizer = _load(folder)
        template = get_template(family)
        assert tokenizer.convert_ids_to_tokens(template.stop_token_ids(tokenizer)[0]) == stop
        # every supervised answer ends with the stop token, or the model never learns to stop
        (_, response), = template.encode_turns(tokenizer, CONVERSATIONS["single"])
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
