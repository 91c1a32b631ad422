"""serve/token_bytes.py: each token's bytes, on the embedded tokenizer (SentencePiece-style byte fallback) and the real
Qwen2.5 and Llama-3 tokenizers of ../shared/assets (byte-level BPE). Joining the bytes of a text's tokens gives the
text's UTF-8 back, although several of these tokens hold part of a character and decode alone to U+FFFD."""

import pytest
from conftest import shared_path

from llmtuner.serve.token_bytes import TokenBytes

TEXTS = ["蛊惑", "患者头晕目眩，舌红少苔，脉弦细。", "Take 5 mg of amlodipine once daily.", "麻黄汤 (Mahuang Tang) 出自《伤寒论》\n"]
REPLACEMENT = "\ufffd".encode()


def _tokenizer(name: str, tiny_model_dir):
    from transformers import AutoTokenizer

    path = tiny_model_dir if name == "embedded" else shared_path("assets", name)
    return AutoTokenizer.from_pretrained(str(path))


@pytest.mark.parametrize("name", ["embedded", "qwen2.5", "llama3"])
def test_the_bytes_of_a_texts_tokens_join_to_its_utf8(name, tiny_model_dir):
    tokenizer = _tokenizer(name, tiny_model_dir)
    pieces = TokenBytes(tokenizer)
    partial = 0
    for text in TEXTS:
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert b"".join(pieces.of(token) for token in ids) == text.encode("utf-8"), (name, text)
        partial += sum(pieces.text(token) == "\ufffd" for token in ids)
    if name != "qwen2.5":  # Qwen's vocabulary holds these characters whole
        assert partial > 0  # so the test covers tokens whose text alone is U+FFFD
    assert all(REPLACEMENT not in pieces.of(token) for text in TEXTS for token in tokenizer.encode(text, add_special_tokens=False))


def test_special_tokens_are_their_text(tiny_model_dir):
    tokenizer = _tokenizer("qwen2.5", tiny_model_dir)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert TokenBytes(tokenizer).of(end) == b"<|im_end|>"
