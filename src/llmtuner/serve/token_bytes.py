"""The bytes of one token, for the `bytes` of OpenAI's logprobs.

Why by hand: a token can hold part of a character (a Chinese character is 3 UTF-8 bytes, which Llama-3 or a
byte-fallback vocabulary split over 2-3 tokens). Decoded alone such a token is U+FFFD, whose bytes are not the
token's, and a client joining the `bytes` of consecutive tokens would not get the answer back. The vocabulary itself
spells the bytes out: byte-level BPE (Qwen, Llama-3, GPT-2) writes each byte as one printable character (GPT-2's
table, `bytes_to_unicode`), SentencePiece's byte fallback writes a byte as `<0xE8>`, and a Metaspace vocabulary
writes the space as `▁`. Neither tokenizers nor transformers has a public call for one token's bytes.
"""

from __future__ import annotations

import json
import re
from typing import Any

_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_METASPACE = "\u2581"


def _decoder_types(tokenizer: Any) -> set[str]:
    """The types in the fast tokenizer's decoder (a Sequence is opened); empty for a slow tokenizer."""
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    if decoder is None:
        return set()
    found: set[str] = set()
    pending = [json.loads(decoder.__getstate__())]
    while pending:
        node = pending.pop()
        found.add(str(node.get("type")))
        pending += node.get("decoders") or []
    return found


class TokenBytes:
    """`of(token_id)`: the token's bytes; `text(token_id)`: the token decoded alone, as the response shows it."""

    def __init__(self, tokenizer: Any) -> None:
        from transformers.convert_slow_tokenizer import bytes_to_unicode

        self.tokenizer = tokenizer
        types = _decoder_types(tokenizer)
        self.byte_level = "ByteLevel" in types
        self.byte_of_char = {char: byte for byte, char in bytes_to_unicode().items()}
        self.special = set(getattr(tokenizer, "all_special_ids", []) or [])

    def text(self, token_id: int) -> str:
        return self.tokenizer.decode([token_id])

    def of(self, token_id: int) -> bytes:
        piece = self.tokenizer.convert_ids_to_tokens(token_id)
        if not isinstance(piece, str) or token_id in self.special:
            return self.text(token_id).encode("utf-8")
        byte = _BYTE_PIECE.fullmatch(piece)
        if byte:
            return bytes([int(byte.group(1), 16)])
        if self.byte_level and all(char in self.byte_of_char for char in piece):
            return bytes(self.byte_of_char[char] for char in piece)
        if not self.byte_level and _METASPACE in piece:
            return piece.replace(_METASPACE, " ").encode("utf-8")
        return self.text(token_id).encode("utf-8")  # an added token, or a vocabulary of whole characters
