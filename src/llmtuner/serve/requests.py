"""What a caller asks an engine for, and what it gets back: every command (chat, infer, api) speaks these."""

import dataclasses
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..extras.errors import UserError
from ..hparams import GeneratingArguments, ServeConfig


class QueueFull(UserError):
    """The scheduler holds max_concurrency + max_queue requests already; the API answers 429."""


class PromptTooLong(UserError):
    """The prompt leaves no room for an answer in the model's context; the API answers 413."""


@dataclass(frozen=True)
class SamplingOptions:
    """Decoding of one request. Greedy unless do_sample; `seed` makes a sampled answer reproducible."""

    max_new_tokens: int
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: int | None = None
    """None: no log-probabilities; 0: the chosen token's; k > 0: also the k most likely tokens at each step."""

    @classmethod
    def from_arguments(cls, generating: GeneratingArguments, **overrides: Any) -> "SamplingOptions":
        """The command's decoding arguments, with a request's own values on top (None = not given)."""
        values = {"max_new_tokens": generating.max_new_tokens, "do_sample": generating.do_sample,
                  "temperature": generating.temperature, "top_p": generating.top_p, "top_k": generating.top_k,
                  "repetition_penalty": generating.repetition_penalty}
        values.update({key: value for key, value in overrides.items() if value is not None})
        if values.get("temperature") == 0:  # OpenAI's way of asking for greedy decoding
            values["do_sample"] = False
        return cls(**values)

    def batch_key(self) -> tuple[Any, ...]:
        """Requests with equal keys can share one generate() call: the same logits processing for every row.
        A seeded request runs alone, so that its seed alone decides its answer."""
        if not self.do_sample:
            return ("greedy", self.repetition_penalty)
        if self.seed is not None:
            return ("seeded", id(self))  # a key of its own: nothing else shares its batch
        return ("sample", self.temperature, self.top_p, self.top_k, self.repetition_penalty)

    def generate_kwargs(self, max_new_tokens: int) -> dict[str, Any]:
        """transformers generate() keywords, the same ones the evaluator passes (GeneratingArguments.to_generate_kwargs)."""
        kwargs: dict[str, Any] = {"do_sample": self.do_sample, "num_beams": 1, "max_new_tokens": max_new_tokens,
                                  "repetition_penalty": self.repetition_penalty}
        if self.do_sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        return kwargs


@dataclass
class GenerationRequest:
    prompt_ids: list[int]
    options: SamplingOptions
    adapter: str | None = None
    """A name from `adapters`, or None for the base (with adapter_name_or_path merged in)."""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set by the caller (a client that disconnected); the engine stops this row at its next step."""
    created: float = field(default_factory=time.monotonic)

    def cancel(self) -> None:
        self.cancelled.set()


@dataclass(frozen=True)
class TokenLogprob:
    token_id: int
    token: str
    logprob: float
    top: tuple[tuple[int, str, float, bytes], ...] = ()
    """The most likely tokens at this step: id, text, log-probability, bytes."""
    token_bytes: bytes = b""
    """The token's own bytes (serve/token_bytes.py): part of a character where the text shows U+FFFD."""


@dataclass(frozen=True)
class Completion:
    """The whole answer: text exactly as the evaluator stores it (decoded without special tokens, stripped)."""

    text: str
    finish_reason: str  # stop | length | cancelled | error
    prompt_tokens: int
    completion_tokens: int
    token_ids: tuple[int, ...] = ()
    logprobs: tuple[TokenLogprob, ...] | None = None
    queue_s: float = 0.0
    latency_s: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class Event:
    """One step of a streamed answer: new text (may be empty), its tokens' log-probabilities, or the end."""

    text: str = ""
    logprobs: tuple[TokenLogprob, ...] = ()
    completion: Completion | None = None


def fit_to_context(request: GenerationRequest, context_length: int) -> GenerationRequest:
    """Refuse a prompt that leaves no room for an answer; shorten the token budget to what fits."""
    room = context_length - len(request.prompt_ids)
    if room < 1:
        raise PromptTooLong(f"the prompt has {len(request.prompt_ids)} tokens, and the model's context holds "
                            f"{context_length}: shorten the conversation.")
    if request.options.max_new_tokens > room:
        request.options = dataclasses.replace(request.options, max_new_tokens=room)
    return request


def served_base_name(config: ServeConfig) -> str:
    if config.serving.served_model_name:
        return config.serving.served_model_name
    path = (config.model.model_name_or_path or "model").rstrip("/")
    return Path(path).name or path
