"""Chat templates: how a model family lays out a conversation as token ids.

A template renders each turn from plain format strings (`{content}` marks the message). Special
tokens written in a format are mapped to ids by name, never tokenized as text, so a template gives
the same ids as the model's own `apply_chat_template` (the parity tests check this token for token
with the real tokenizers). The families and the lookup by name live in `template_registry.py`; adding one is one
`register_template` call there and one parity test.

Encoding returns one (prompt_ids, response_ids) pair per user/assistant round, which is what SFT
masking needs: prompts get label -100, responses are learned.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..extras.errors import ConfigError, DataError
from ..extras.logging import get_logger

logger = get_logger(__name__)

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}


@dataclass(frozen=True)
class Template:
    name: str
    user: str
    """One user turn, ending with the header that opens the assistant's reply."""
    assistant: str
    """One assistant turn, ending with the end-of-turn marker the model must learn to emit."""
    system: str = "{content}"
    """The system turn; families without one put it as plain text before the first user turn."""
    prefix: str = ""
    """Emitted once at the very start (BOS-like tokens), before the system turn."""
    default_system: str = ""
    stop_words: tuple[str, ...] = ()
    """Tokens that end a reply. The first is the EOS the tokenizer is set to; all stop generation."""
    special_tokens: tuple[str, ...] = ()
    """Strings in the formats that are single special tokens, mapped to ids by name."""
    trim_content: bool = False
    """Strip whitespace around message content (Llama 3's template does `| trim`)."""
    encode_content_separately: bool = False
    """Tokenize message content apart from the surrounding format text (sentencepiece families whose
    official code encodes them separately, so each gets its own dummy-prefix space)."""
    always_system: bool = False
    """Render the system turn even when there is no system text (Llama 3.1's template always writes its
    system header with the knowledge/today dates, empty system message or not)."""
    date_string: str = ""
    """Fills `{date_string}` in the system format (Llama 3.1's "Today Date: ..." line, as `date_string` fills
    it in the model's Jinja template)."""
    final_thought: str = ""
    """Empty reasoning block Qwen3 renders before the final answer (`<think>\\n\\n</think>\\n\\n`)."""
    conversation_end: str = ""
    """Emitted once, after the last assistant reply of a training conversation (not after earlier
    replies, not in generation prompts). For families whose official format has no end-of-turn
    marker: an earlier reply simply ends where the next role token begins, and the official
    fine-tuning code appends EOS once at the end (ChatGLM3, Baichuan2: `</s>`). Write special tokens
    that are listed in `special_tokens`."""
    description: str = ""
    aliases: tuple[str, ...] = field(default=())

    # ---- rendering -------------------------------------------------------------------------
    def _content(self, text: str) -> str:
        return text.strip() if self.trim_content else text

    def _pieces(self, fmt: str, content: str | None = None) -> list[tuple[str, str]]:
        """Split a filled format into ("special", token) and ("text", string) pieces."""
        before, marker, after = fmt.partition("{content}")
        parts: list[tuple[str, str]] = self._split_specials(before)
        if marker:
            parts.append(("content", self._content(content or "")))
            parts += self._split_specials(after)
        return parts

    def _split_specials(self, text: str) -> list[tuple[str, str]]:
        if not text:
            return []
        if not self.special_tokens:
            return [("text", text)]
        pattern = "(" + "|".join(re.escape(token) for token in sorted(self.special_tokens, key=len, reverse=True)) + ")"
        return [("special" if piece in self.special_tokens else "text", piece) for piece in re.split(pattern, text) if piece]

    def _encode(self, tokenizer: Any, parts: list[tuple[str, str]]) -> list[int]:
        ids: list[int] = []
        text_run = ""

        def flush() -> None:
            nonlocal text_run
            if text_run:
                ids.extend(tokenizer.encode(text_run, add_special_tokens=False))
                text_run = ""

        for kind, value in parts:
            if kind == "special":
                flush()
                ids.append(self.token_id(tokenizer, value))
            elif kind == "content" and self.encode_content_separately:
                flush()
                if value:
                    ids.extend(tokenizer.encode(value, add_special_tokens=False))
            else:
                text_run += value
        flush()
        return ids

    def token_id(self, tokenizer: Any, token: str) -> int:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or (token_id == tokenizer.unk_token_id and token != tokenizer.unk_token):
            raise ConfigError(
                f"Template {self.name!r} needs the token {token!r}, which this tokenizer does not have: the template "
                f"does not match the model. Pick the template of the model family (see `llmtuner templates`)."
            )
        return int(token_id)

    # ---- public API ------------------------------------------------------------------------
    def encode_turns(
        self, tokenizer: Any, messages: Sequence[Message], system: str | None = None, enable_thinking: bool = True
    ) -> list[tuple[list[int], list[int]]]:
        """(prompt_ids, response_ids) per round of a conversation that alternates user/assistant.

        `system` overrides the default system prompt; "" means no system turn at all.
        """
        return self._rounds(tokenizer, messages, system, enable_thinking, last_is_final=True)

    def _rounds(
        self, tokenizer: Any, messages: Sequence[Message], system: str | None, enable_thinking: bool, last_is_final: bool
    ) -> list[tuple[list[int], list[int]]]:
        """`last_is_final`: the last round ends the conversation (training), so it gets `final_thought`
        and `conversation_end`; False when the rounds are the history of a generation prompt."""
        if len(messages) % 2 != 0 or not messages:
            raise DataError(f"Template {self.name}: a conversation to encode needs user/assistant pairs, got {len(messages)} messages.")
        pairs: list[tuple[list[int], list[int]]] = []
        for index in range(0, len(messages), 2):
            prompt_parts = self._head(system) if index == 0 else []
            prompt_parts += self._pieces(self.user, messages[index]["content"])
            answer = messages[index + 1]["content"]
            response_parts = self._pieces(self.assistant, answer)
            is_last = last_is_final and index + 2 == len(messages)
            if is_last and self.final_thought and "<think>" not in answer:
                thought = self._split_specials(self.final_thought)
                if enable_thinking:  # the model learns to emit the empty block itself, as Qwen3's template shows it
                    response_parts = thought + response_parts
                else:  # no-think mode: the block belongs to the prompt, as `enable_thinking=False` renders it
                    prompt_parts += thought
            if is_last and self.conversation_end:
                response_parts += self._split_specials(self.conversation_end)
            pairs.append((self._encode(tokenizer, prompt_parts), self._encode(tokenizer, response_parts)))
        return pairs

    def encode_prompt(
        self, tokenizer: Any, messages: Sequence[Message], system: str | None = None, enable_thinking: bool = True
    ) -> list[int]:
        """Ids of a conversation ending with a user turn, plus the assistant header: the generation prompt."""
        if len(messages) % 2 != 1:
            raise DataError(f"Template {self.name}: a generation prompt must end with a user message.")
        ids: list[int] = []
        if len(messages) > 1:
            # History answers carry no reasoning block: Qwen3 renders one only after the last user turn.
            for prompt, response in self._rounds(tokenizer, messages[:-1], system, True, last_is_final=False):
                ids += prompt + response
            parts = self._pieces(self.user, messages[-1]["content"])
        else:
            parts = self._head(system) + self._pieces(self.user, messages[-1]["content"])
        if self.final_thought and not enable_thinking:
            parts += self._split_specials(self.final_thought)
        return ids + self._encode(tokenizer, parts)

    def _head(self, system: str | None) -> list[tuple[str, str]]:
        system_text = self.default_system if system is None else system
        parts = self._split_specials(self.prefix)
        if system_text or self.always_system:
            parts += self._pieces(self.system_format(), system_text)
        return parts

    def system_format(self) -> str:
        """The system format with `{date_string}` filled in (a no-op for templates without a date)."""
        return self.system.replace("{date_string}", self.date_string)

    @property
    def has_date(self) -> bool:
        """Whether the system turn shows a date that `date_string` / `template_date_string` sets."""
        return "{date_string}" in self.system

    def stop_token_ids(self, tokenizer: Any) -> list[int]:
        """EOS plus every stop word: generation must end on any of them."""
        ids = [self.token_id(tokenizer, word) for word in self.stop_words]
        if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
            ids.append(tokenizer.eos_token_id)
        return ids

    def check_tokenizer(self, tokenizer: Any) -> None:
        """Fail early when the tokenizer lacks a token the template writes (model/template mismatch)."""
        for token in (*self.special_tokens, *self.stop_words):
            self.token_id(tokenizer, token)

    def fix_tokenizer(self, tokenizer: Any) -> None:
        """Make EOS the family's end-of-turn token and give the tokenizer a pad token.

        A base model's EOS is often `<|endoftext|>` while its chat format ends turns with `<|im_end|>`:
        training then never teaches the token generation stops on, and the model never stops.
        """
        self.check_tokenizer(tokenizer)
        if self.stop_words and tokenizer.eos_token != self.stop_words[0]:
            logger.info("Template %s: EOS token %r -> %r.", self.name, tokenizer.eos_token, self.stop_words[0])
            tokenizer.eos_token = self.stop_words[0]
        if tokenizer.pad_token_id is None:
            # The pad token never gets a label, so reusing EOS is harmless for the loss; say so because
            # collators that mask pads by id would also mask the EOS the model must learn.
            tokenizer.pad_token = tokenizer.eos_token
            logger.info("Pad token set to EOS %r (padding is masked by attention, labels are -100).", tokenizer.eos_token)
