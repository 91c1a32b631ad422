"""One request's answer as it grows, shared by both serving engines: tokens in, streamable text out.

The text rules are the evaluator's (decoded without special tokens, stripped), so a streamed answer adds up
to what `llmtuner eval` stores for the same tokens; stop tokens, the token budget, stop strings and a cancel
flag end it.
"""

from typing import Any

from .requests import TokenLogprob
from .scheduler import Job


class Row:
    """One request's answer as it grows: tokens, incrementally decoded text, and why it ended."""

    def __init__(self, job: Job, tokenizer: Any, stop_ids: set[int]) -> None:
        self.job, self.tokenizer, self.stop_ids = job, tokenizer, stop_ids
        self.options = job.request.options
        self.tokens: list[int] = []
        self.logprobs: list[TokenLogprob] = []
        self.finish_reason: str | None = None
        self.text = ""  # incrementally decoded, leading whitespace removed
        self.sent = 0  # characters of `text` already streamed
        self._prefix = self._read = 0  # incremental detokenisation window (token offsets)
        self._hold = max((len(stop) for stop in self.options.stop), default=1) - 1

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    def add(self, token: int, logprob: TokenLogprob | None) -> None:
        if self.job.request.cancelled.is_set():
            self.finish_reason = "cancelled"
            return
        self.tokens.append(token)
        if logprob is not None:
            self.logprobs.append(logprob)
        if token in self.stop_ids:
            self.finish_reason = "stop"
        elif len(self.tokens) >= self.options.max_new_tokens:
            self.finish_reason = "length"
        if not self.done:
            self._extend_text()

    def _extend_text(self) -> None:
        """Decode only a window of recent tokens (what vLLM and TGI do): a full decode per step would cost
        O(length²). Text ending in U+FFFD is half a character (byte-level BPE) and waits for the next token."""
        decode = self.tokenizer.decode
        before = decode(self.tokens[self._prefix : self._read], skip_special_tokens=True)
        after = decode(self.tokens[self._prefix :], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.text = (self.text + after[len(before) :]).lstrip()
            self._prefix, self._read = self._read, len(self.tokens)
        for stop in self.options.stop:
            if stop in self.text:
                self.finish_reason = "stop"

    def pending_text(self) -> str:
        """New text safe to stream: not trailing whitespace (the final answer is stripped) and not what could be
        the start of a stop string."""
        if self.done:  # the rest comes with the completion, cut at the stop string
            return ""
        visible = self.text.rstrip()
        visible = visible[: max(len(visible) - self._hold, 0)] if self._hold else visible
        if len(visible) <= self.sent:
            return ""
        piece, self.sent = visible[self.sent :], len(visible)
        return piece

    def final_text(self) -> str:
        """The evaluator's text: one full decode without special tokens, stripped; cut at a stop string."""
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        cuts = [text.find(stop) for stop in self.options.stop if stop in text]
        return (text[: min(cuts)] if cuts else text).strip()
