"""Serving engines by name, and what every command (chat, infer, api) may ask of one.

  hf    transformers on any machine: a scheduler batches waiting requests into one generate() (`hf_engine.py`)
  vllm  vLLM's async engine on GPU servers: continuous batching, adapters as LoRARequests (`vllm_engine.py`)

Both take prompts as token ids rendered by our template and decode answers with our tokenizer, so the text
is the evaluator's for the same tokens.
"""

from typing import Any, Protocol

from ..hparams import ServeConfig
from .handle import RequestHandle
from .requests import GenerationRequest, fit_to_context, served_base_name

__all__ = ["ENGINES", "RequestHandle", "ServingEngine", "fit_to_context", "load_serving_engine", "served_base_name"]


class ServingEngine(Protocol):
    tokenizer: Any
    template: Any
    context_length: int
    model_names: list[str]
    """The base's served name first, then each adapter's."""

    def submit(self, request: GenerationRequest) -> RequestHandle:
        """Queue a request (call from a running event loop); raises QueueFull or PromptTooLong at once."""
        ...

    def queue_depth(self) -> int: ...

    def close(self) -> None: ...


def _hf(config: ServeConfig) -> ServingEngine:
    from .hf_engine import HfServingEngine

    return HfServingEngine(config)


def _vllm(config: ServeConfig) -> ServingEngine:
    from .vllm_engine import VllmServingEngine  # imports vllm, which only GPU servers have

    return VllmServingEngine(config)


ENGINES: dict[str, Any] = {"hf": _hf, "vllm": _vllm}


def load_serving_engine(config: ServeConfig) -> ServingEngine:
    return ENGINES[config.serving.infer_backend](config)
