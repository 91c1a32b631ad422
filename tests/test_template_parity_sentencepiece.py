"""Token-for-token parity for the sentencepiece families: ChatGLM3, Baichuan2, Yi and InternLM2.

Their real tokenizers need remote code (not available offline), and the converted tokenizer.json files
in ../shared/assets get the special tokens wrong (see SOURCES.md there). So each test builds a
*faithful* tokenizer: one that behaves like the real one on what the template engine calls
(`encode(text, add_special_tokens=False)`, `convert_tokens_to_ids`, `unk_token(_id)`, `eos_token(_id)`).

The expected ids never come from the template engine. They come from rendering the conversation the
way each model's official code does, with the special tokens mapped by the ids SOURCES.md lists:

- ChatGLM3: `build_chat_input`/`build_single_message` of tokenization_chatglm.py, cross-checked against
  the `chat_template` in chatglm3/tokenizer_config.json; training adds the EOS the official
  fine-tuning code (finetune_demo `process_batch`) appends after the last message.
- Baichuan2: `build_chat_input` of generation_utils.py; training adds the EOS its fine-tune.py appends.
- Yi: the Yi-34B-Chat / Yi-6B-Chat `chat_template` (the assets hold the base config, which has none).
- InternLM2: the `chat_template` in internlm2/tokenizer_config.json, cross-checked for generation
  prompts against `build_inputs` of modeling_internlm2.py (whose `chat()` supplies the default system).
"""

import json
import re
from functools import lru_cache

import pytest
from conftest import shared_path

from llmtuner.data.template_registry import get_template
from llmtuner.extras.errors import ConfigError

FAMILIES = ("chatglm3", "baichuan2", "yi", "intern2")
ASSET_FOLDER = {"chatglm3": "chatglm3", "baichuan2": "baichuan2", "yi": "yi", "intern2": "internlm2"}

SYSTEM = "你是一名中西医结合科医生，回答要简明。"
CONVERSATIONS = {
    "single": [
        {"role": "user", "content": "黄芪有什么功效？"},
        {"role": "assistant", "content": "黄芪补气升阳，益卫固表，利水消肿。\n常用量9～30g，水煎服。"},
    ],
    "multi": [
        {"role": "user", "content": "最近总是口干多饮，血糖偏高。"},
        {"role": "assistant", "content": "建议查空腹血糖和糖化血红蛋白（HbA1c）。"},
        {"role": "user", "content": "中医怎么看？ What about metformin 500 mg?"},
        {"role": "assistant", "content": "中医属消渴范畴；二甲双胍（metformin）是2型糖尿病一线用药。"},
    ],
}

# ---- ids as SOURCES.md lists them (the official tokenizers' special tokens) -------------------------
CHATGLM3_IDS = {
    "[MASK]": 64789, "[gMASK]": 64790, "[sMASK]": 64791, "sop": 64792, "eop": 64793,
    "<|system|>": 64794, "<|user|>": 64795, "<|assistant|>": 64796, "<|observation|>": 64797,
}
CHATGLM3_EOS = 2  # `</s>` in tokenizer.model; eos_token of the config
BAICHUAN2_USER, BAICHUAN2_ASSISTANT, BAICHUAN2_EOS = 195, 196, 2  # generation_config user/assistant_token_id
INTERNLM2_IDS = {"<s>": 1, "</s>": 2, "<|im_end|>": 92542, "<|im_start|>": 92543}
INTERNLM2_RENAMED = {  # vocabulary holds [UNUSED_TOKEN_141..146]; tokenizer_config names them
    92538: "<|plugin|>", 92539: "<|interpreter|>", 92540: "<|action_end|>",
    92541: "<|action_start|>", 92542: "<|im_end|>", 92543: "<|im_start|>",
}
YI_IDS = {"<|im_start|>": 6, "<|im_end|>": 7}

# End-of-turn id a supervised reply must end with, and the ids the official generation code stops on.
END_OF_TURN = {"chatglm3": CHATGLM3_EOS, "baichuan2": BAICHUAN2_EOS, "yi": 7, "intern2": 92542}
OFFICIAL_STOP_IDS = {
    "chatglm3": {2, 64795, 64797},  # chatglm3-6b generation_config eos_token_id
    "baichuan2": {2},                # Baichuan2-Chat generation_config eos_token_id
    "yi": {7},                       # Yi-chat replies end with <|im_end|>
    "intern2": {2, 92542},           # modeling_internlm2.chat(): [tokenizer.eos_token_id, <|im_end|>]
}

# Yi-34B-Chat (and Yi-6B-Chat) tokenizer_config.json `chat_template`, huggingface.co/01-ai/Yi-34B-Chat at
# c556c018b58980fb651ff4952d86cd5250a713d0 (as quoted by LMFlow's supported_conversation_template.md; the Yi
# README points to the same field): plain ChatML, no default system prompt.
YI_CHAT_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# modeling_internlm2.py `chat(..., meta_instruction=...)` default: used when the caller gives no system.
INTERNLM2_META_INSTRUCTION = (
    "You are an AI assistant whose name is InternLM (书生·浦语).\n"
    "- InternLM (书生·浦语) is a conversational language model that is developed by Shanghai AI Laboratory "
    "(上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n"
    "- InternLM (书生·浦语) can understand and communicate fluently in the language chosen by the user such "
    "as English and 中文."
)


# ---- faithful tokenizers ---------------------------------------------------------------------------
class ChatGLM3SentencePiece:
    """ChatGLM3's ChatGLMTokenizer (tokenization_chatglm.py, remote code) on the calls the engine makes,
    over the real sentencepiece tokenizer.model.

    Its SPTokenizer.encode is one `sp_model.encode(text)` call, which adds sentencepiece's dummy-prefix
    "▁" on every call (add_dummy_prefix is on in this model); special tokens are not sentencepiece
    pieces but ids appended after the 64,789-piece vocabulary, looked up by name (`get_command`).
    `build_chat_input` calls SPTokenizer.encode directly, so no added-token splitting happens in text.
    """

    unk_token = "<unk>"

    def __init__(self, model_file: str) -> None:
        import sentencepiece

        self.sp = sentencepiece.SentencePieceProcessor(model_file=model_file)
        assert self.sp.vocab_size() == min(CHATGLM3_IDS.values())
        self.eos_token = "</s>"
        self.pad_token = "<unk>"

    @property
    def unk_token_id(self) -> int:
        return self.sp.unk_id()

    @property
    def eos_token_id(self) -> int:
        return self.convert_tokens_to_ids(self.eos_token)

    @property
    def pad_token_id(self) -> int:
        return self.convert_tokens_to_ids(self.pad_token)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        ids = list(self.sp.encode(text))
        # ChatGLMTokenizer.build_inputs_with_special_tokens: the [gMASK] sop prefix
        return [CHATGLM3_IDS["[gMASK]"], CHATGLM3_IDS["sop"], *ids] if add_special_tokens else ids

    def convert_tokens_to_ids(self, tokens):
        if isinstance(tokens, str):  # unknown names give the unk id, as sentencepiece's PieceToId does
            return CHATGLM3_IDS.get(tokens, self.sp.piece_to_id(tokens))
        return [self.convert_tokens_to_ids(token) for token in tokens]

    def convert_ids_to_tokens(self, ids):
        names = {value: key for key, value in CHATGLM3_IDS.items()}
        if isinstance(ids, int):
            return names.get(ids) or self.sp.id_to_piece(ids)
        return [self.convert_ids_to_tokens(i) for i in ids]


def _fast_tokenizer(folder: str, *, rename=None, special_ids=(), dummy_prefix=True, post_processor=True, **tokens):
    """A PreTrainedTokenizerFast from a converted tokenizer.json, its special tokens fixed by id."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    data = json.loads(shared_path("assets", folder, "tokenizer.json").read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    by_id = {index: piece for piece, index in vocab.items()}
    for index, name in (rename or {}).items():  # give the vocabulary entry its real name, keeping its id
        del vocab[by_id[index]]
        vocab[name], by_id[index] = index, name
    added = {entry["id"]: entry for entry in data["added_tokens"]}
    for index in special_ids:  # one id each, never split, never normalized
        added[index] = {"id": index, "content": by_id[index], "single_word": False, "lstrip": False,
                        "rstrip": False, "normalized": False, "special": True}
    data["added_tokens"] = [added[index] for index in sorted(added)]
    if not dummy_prefix:
        steps = data["normalizer"]["normalizers"]
        data["normalizer"]["normalizers"] = [step for step in steps if step["type"] != "Prepend"]
    if not post_processor:
        data["post_processor"] = None
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(data)), **tokens)


def build_faithful(family: str):
    if family == "chatglm3":
        return ChatGLM3SentencePiece(str(shared_path("assets", "chatglm3", "tokenizer.model")))
    if family == "baichuan2":
        # - no dummy prefix: the Baichuan 2 report (arXiv 2309.10305, §2.2) says its sentencepiece model
        #   applies no normalization and adds no dummy prefix "as in Baichuan 1"; the conversion still
        #   prepends "▁" to every text (LlamaConverter default), which changes the first piece of
        #   each encoded message;
        # - no post-processor: the config says add_bos_token: false (BaichuanTokenizer adds nothing),
        #   the conversion prepends <s> to every encode;
        # - 195/196 are already named <reserved_106>/<reserved_107>, so convert_tokens_to_ids finds them;
        #   the official code only ever uses them by id, never inside text.
        return _fast_tokenizer("baichuan2", dummy_prefix=False, post_processor=False,
                               unk_token="<unk>", eos_token="</s>", pad_token="<unk>")
    if family == "yi":
        # <|im_start|> (6), <|im_end|> (7) and <|im_sep|> (8) are ordinary pieces in the conversion, so a
        # generic loader splits "<|im_start|>" in text into "<", "|", ...; Yi-Chat's special_tokens_map lists
        # them as additional special tokens. Normalizer (no dummy prefix; Yi's sentencepiece model adds
        # none) and the absent post-processor (add_bos_token: false) are right as they are.
        return _fast_tokenizer("yi", special_ids=(6, 7, 8), unk_token="<unk>", bos_token="<|startoftext|>",
                               eos_token="<|endoftext|>", pad_token="<unk>")
    if family == "intern2":
        # ids 92538-92543 are [UNUSED_TOKEN_141..146] in the vocabulary; the config's added_tokens_decoder
        # names them <|plugin|> ... <|im_start|>. A generic loader appends those names as new ids from
        # 92544 on, so they are renamed in place and marked special; <unk>/<s>/</s> (0-2) are special too
        # (the conversion lists no added tokens). No dummy prefix: right, the published ids of
        # "<|im_start|>user\n" are [92543, 1008, 364] ("user", not "▁user"). The <s> post-processor matches
        # add_bos_token: true (the engine encodes without special tokens anyway).
        return _fast_tokenizer("internlm2", rename=INTERNLM2_RENAMED, special_ids=(0, 1, 2, *INTERNLM2_RENAMED),
                               unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="</s>")
    raise ValueError(family)


@pytest.fixture(scope="module")
def faithful():
    """family -> faithful tokenizer, each built once per module (a tokenizer.json takes ~1 s to load)."""
    return lru_cache(maxsize=None)(build_faithful)


# ---- official renderings ---------------------------------------------------------------------------
def render_chat_template(chat_template: str, messages, add_generation_prompt: bool, **variables) -> str:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # the environment transformers compiles chat templates in
    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(chat_template).render(
        messages=messages, add_generation_prompt=add_generation_prompt, **variables
    )


def split_and_encode(text: str, special_ids: dict[str, int], encode) -> list[int]:
    """Special-token strings -> their listed ids; each text run between them encoded on its own, as a
    tokenizer with those tokens registered as special does."""
    pattern = "(" + "|".join(re.escape(token) for token in sorted(special_ids, key=len, reverse=True)) + ")"
    ids: list[int] = []
    for piece in re.split(pattern, text):
        if piece in special_ids:
            ids.append(special_ids[piece])
        elif piece:
            ids.extend(encode(piece))
    return ids


def chatglm3_official(tokenizer: ChatGLM3SentencePiece, messages, add_generation_prompt: bool) -> list[int]:
    """tokenization_chatglm.py build_chat_input: get_prefix_tokens() then build_single_message per message."""
    ids = [CHATGLM3_IDS["[gMASK]"], CHATGLM3_IDS["sop"]]
    for message in messages:
        ids.append(CHATGLM3_IDS[f"<|{message['role']}|>"])
        ids += tokenizer.sp.encode(f"{message.get('metadata', '')}\n")  # SPTokenizer.encode
        ids += tokenizer.sp.encode(message["content"])
    if add_generation_prompt:
        ids.append(CHATGLM3_IDS["<|assistant|>"])
    return ids


def chatglm3_reference(tokenizer, messages, add_generation_prompt: bool) -> list[int]:
    official = chatglm3_official(tokenizer, messages, add_generation_prompt)
    # Cross-check with the shipped chat_template: its "<|role|>\n {content}" writes out the dummy-prefix space
    # that the official code gets from encoding "\n" and the content in separate sentencepiece calls. Where
    # the two could disagree, the official code wins: it is the reference. (One known gap: the shipped
    # config's added_tokens_decoder lists only [gMASK], sop, <|user|> and <|assistant|>, so the HF tokenizer's
    # apply_chat_template would encode "<|system|>" as text; this rendering maps every role token by id.)
    config = json.loads(shared_path("assets", "chatglm3", "tokenizer_config.json").read_text(encoding="utf-8"))
    rendered = render_chat_template(config["chat_template"], messages, add_generation_prompt)
    assert split_and_encode(rendered, CHATGLM3_IDS, tokenizer.sp.encode) == official
    if not add_generation_prompt:  # finetune_demo process_batch: input_ids.append(tokenizer.eos_token_id)
        official = official + [CHATGLM3_EOS]
    return official


def baichuan2_reference(tokenizer, messages, add_generation_prompt: bool) -> list[int]:
    """generation_utils.build_chat_input (no truncation): system text, then per message role id + content."""
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    ids = tokenizer.encode(system)  # the official call, special tokens on: BaichuanTokenizer adds none
    for message in messages:
        if message["role"] == "system":
            continue
        ids.append(BAICHUAN2_USER if message["role"] == "user" else BAICHUAN2_ASSISTANT)
        ids += tokenizer.encode(message["content"])
    if messages[-1]["role"] != "assistant":
        ids.append(BAICHUAN2_ASSISTANT)
    assert add_generation_prompt == (messages[-1]["role"] != "assistant")
    if not add_generation_prompt:  # fine-tune.py preprocessing: input_ids.append(tokenizer.eos_token_id)
        ids.append(BAICHUAN2_EOS)
    return ids


def yi_reference(tokenizer, messages, add_generation_prompt: bool) -> list[int]:
    rendered = render_chat_template(YI_CHAT_TEMPLATE, messages, add_generation_prompt)
    return split_and_encode(rendered, YI_IDS, lambda text: tokenizer.encode(text, add_special_tokens=False))


def intern2_reference(tokenizer, messages, add_generation_prompt: bool) -> list[int]:
    config = json.loads(shared_path("assets", "internlm2", "tokenizer_config.json").read_text(encoding="utf-8"))
    rendered = render_chat_template(config["chat_template"], messages, add_generation_prompt, bos_token="<s>")
    ids = split_and_encode(rendered, INTERNLM2_IDS, lambda text: tokenizer.encode(text, add_special_tokens=False))
    if add_generation_prompt:
        # modeling_internlm2.build_inputs: add_bos_token is true, so the prompt string carries no <s> and the
        # tokenizer call adds it; system as "<|im_start|>system\n{meta_instruction}<|im_end|>\n" when non-empty.
        system = messages[0]["content"] if messages[0]["role"] == "system" else ""
        turns = [message["content"] for message in messages if message["role"] != "system"]
        prompt = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
        for query, answer in zip(turns[:-1:2], turns[1::2]):
            prompt += f"<|im_start|>user\n{query}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n"
        prompt += f"<|im_start|>user\n{turns[-1]}<|im_end|>\n<|im_start|>assistant\n"
        assert tokenizer.encode(prompt) == ids
    return ids


REFERENCES = {
    "chatglm3": chatglm3_reference, "baichuan2": baichuan2_reference,
    "yi": yi_reference, "intern2": intern2_reference,
}
# What the official code puts in the system turn when the caller gives no system prompt.
OFFICIAL_DEFAULT_SYSTEM = {"chatglm3": "", "baichuan2": "", "yi": "", "intern2": INTERNLM2_META_INSTRUCTION}


def _ours(template, tokenizer, messages, system) -> list[int]:
    ids: list[int] = []
    for prompt, response in template.encode_turns(tokenizer, messages, system=system):
        ids += prompt + response
    return ids


# ---- tests ---------------------------------------------------------------------------------------
def test_faithful_tokenizers_match_the_published_ids(faithful):
    glm = faithful("chatglm3")
    assert glm.sp.encode("你好") == [36474, 54591]  # SOURCES.md
    assert glm.encode("\n", add_special_tokens=False) == [30910, 13]  # "▁" + "\n": the dummy prefix per call
    assert glm.convert_tokens_to_ids(list(CHATGLM3_IDS)) == list(CHATGLM3_IDS.values())
    intern = faithful("intern2")
    assert intern.encode("<|im_start|>user\n", add_special_tokens=False) == [92543, 1008, 364]
    assert intern.encode("<|im_start|>assistant\n", add_special_tokens=False) == [92543, 525, 11353, 364]
    assert intern.convert_tokens_to_ids(list(INTERNLM2_IDS)) == list(INTERNLM2_IDS.values())
    assert len(intern) == 92544  # nothing appended after the vocabulary
    yi = faithful("yi")
    ids = yi.encode("<|im_start|>user\n你好<|im_end|>", add_special_tokens=False)
    assert (ids[0], ids[-1], yi.convert_ids_to_tokens(ids[1])) == (6, 7, "user")  # no dummy prefix after it
    assert yi.convert_tokens_to_ids(list(YI_IDS)) == list(YI_IDS.values())
    baichuan = faithful("baichuan2")
    assert baichuan.convert_tokens_to_ids(["<reserved_106>", "<reserved_107>", "</s>"]) == [195, 196, 2]
    assert baichuan.encode("黄芪")[0] != 1  # no BOS (add_bos_token: false)
    assert not baichuan.convert_ids_to_tokens(baichuan.encode("黄芪"))[0].startswith("▁")  # no dummy prefix


def test_the_fixes_are_needed():
    """The converted files as a generic loader reads them give other ids: that is why the fixes exist."""
    from transformers import PreTrainedTokenizerFast

    def raw(folder):
        return PreTrainedTokenizerFast(tokenizer_file=str(shared_path("assets", folder, "tokenizer.json")),
                                       unk_token="<unk>")

    assert raw("yi").encode("<|im_start|>", add_special_tokens=False) != [6]
    baichuan = raw("baichuan2")
    assert baichuan.encode("黄芪")[0] == 1  # the wrong <s>
    with pytest.raises(ConfigError, match="does not match the model"):
        get_template("intern2").check_tokenizer(raw("internlm2"))  # no <|im_start|> by that name


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
@pytest.mark.parametrize("system_mode", ["default", "custom", "none"])
def test_parity_with_official_format(faithful, family, conversation, system_mode):
    tokenizer = faithful(family)
    template = get_template(family)
    messages = CONVERSATIONS[conversation]
    # default: the caller gives no system (None) -> the family's default, as its official chat code does;
    # custom: our system prompt; none: "" -> no system turn at all.
    system, reference_system = {
        "default": (None, OFFICIAL_DEFAULT_SYSTEM[family]), "custom": (SYSTEM, SYSTEM), "none": ("", ""),
    }[system_mode]
    reference_messages = ([{"role": "system", "content": reference_system}] if reference_system else []) + messages
    reference = REFERENCES[family]

    assert _ours(template, tokenizer, messages, system) == reference(tokenizer, reference_messages, False)
    # generation prompt: the conversation up to the last user turn, plus the assistant header
    expected_prompt = reference(tokenizer, reference_messages[:-1], True)
    assert template.encode_prompt(tokenizer, messages[:-1], system) == expected_prompt


@pytest.mark.parametrize("family", FAMILIES)
def test_replies_end_with_the_end_of_turn(faithful, family):
    tokenizer = faithful(family)
    template = get_template(family)
    turns = template.encode_turns(tokenizer, CONVERSATIONS["multi"])
    eot = END_OF_TURN[family]
    chatml = family in ("yi", "intern2")
    newline = tokenizer.encode("\n", add_special_tokens=False) if chatml else []  # ChatML's "<|im_end|>\n"
    last = turns[-1][1]
    assert last[len(last) - len(newline) - 1] == eot and last[len(last) - len(newline):] == newline
    first = turns[0][1]
    if chatml:  # every ChatML reply is closed by <|im_end|>
        assert first[len(first) - len(newline) - 1] == eot
    else:  # ChatGLM3/Baichuan2 history replies carry no EOS: the next role token follows directly
        assert eot not in first
        assert tokenizer.convert_tokens_to_ids(template.stop_words[0]) == eot
    stop_ids = template.stop_token_ids(tokenizer)
    assert stop_ids[0] == eot  # the first stop word is the EOS fix_tokenizer sets
    assert OFFICIAL_STOP_IDS[family] <= set(stop_ids)


def test_fix_tokenizer_sets_the_turn_end_as_eos():
    yi = build_faithful("yi")  # a fresh one: fix_tokenizer mutates it
    assert yi.eos_token == "<|endoftext|>"
    get_template("yi").fix_tokenizer(yi)
    assert (yi.eos_token, yi.eos_token_id) == ("<|im_end|>", 7)
    glm = build_faithful("chatglm3")
    get_template("chatglm3").fix_tokenizer(glm)
    assert (glm.eos_token_id, glm.pad_token_id) == (2, 0)  # EOS stays </s>; pad stays <unk>


@pytest.mark.parametrize("family", FAMILIES)
def test_check_tokenizer_accepts_the_family_tokenizer(faithful, family):
    get_template(family).check_tokenizer(faithful(family))


@pytest.mark.parametrize("family,other", [
    ("chatglm3", "yi"), ("baichuan2", "chatglm3"), ("yi", "baichuan2"), ("intern2", "chatglm3"),
])
def test_check_tokenizer_rejects_another_family(faithful, family, other):
    with pytest.raises(ConfigError, match="does not match the model"):
        get_template(family).check_tokenizer(faithful(other))


def test_internlm2_alias():
    assert get_template("internlm2") is get_template("intern2")
