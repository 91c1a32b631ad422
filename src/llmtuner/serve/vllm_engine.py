"""The vLLM serving engine (`infer_backend: vllm`, GPU servers): vLLM's AsyncLLM, continuous batching.

Prompts go in as token ids rendered by our template, answers are decoded by our tokenizer with the same rules
as the transformers engine (`detokenize.Row`), so both engines return the same text for the same tokens. Every
adapter is a LoRARequest: adapter_name_or_path for the base name, and one per `adapters` entry; vLLM mixes
them in its batches. What vLLM cannot serve is refused in `hparams/vllm_checks.py` before anything loads.
Written against vLLM 0.33 (AsyncLLM.from_engine_args, generate() yielding cumulative RequestOutputs).
"""

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from ..eval.tokenizer import load_tokenizer_and_template
from ..eval.vllm_engine import LORA_RANKS
from ..extras.errors import ConfigError
from ..hparams import ServeConfig
from ..hparams.checks import largest_lora_rank
from ..hparams.validate_serve import parse_adapters
from ..model.loader import resolve_model_path
from .detokenize import Row
from .handle import RequestHandle
from .requests import Completion, Event, GenerationRequest, QueueFull, TokenLogprob, fit_to_context, served_base_name
from .scheduler import Job
from .token_bytes import TokenBytes


def _rank(path: str) -> int:
    config = json.loads((Path(path) / "adapter_config.json").read_text(encoding="utf-8"))
    return largest_lora_rank(config)


def engine_args(config: ServeConfig, adapter_paths: list[str]) -> dict[str, Any]:
    """AsyncEngineArgs fields: the model folder, precision, GPU settings, LoRA slots for every served adapter.
    generation_config "vllm": decoding follows our SamplingParams only, as the transformers engine does."""
    path = resolve_model_path(config.model.model_name_or_path or "")
    serving = config.serving
    kwargs: dict[str, Any] = {
        "model": path, "tokenizer": path, "dtype": config.model.dtype, "trust_remote_code": config.model.trust_remote_code,
        "revision": config.model.model_revision, "download_dir": config.model.cache_dir, "generation_config": "vllm",
        "gpu_memory_utilization": serving.vllm_gpu_memory_utilization, "max_num_seqs": serving.max_concurrency,
        "tensor_parallel_size": serving.vllm_tensor_parallel_size, "enforce_eager": serving.vllm_enforce_eager,
    }
    if adapter_paths:
        rank = max(_rank(adapter) for adapter in adapter_paths)
        kwargs.update(enable_lora=True, max_loras=len(adapter_paths),
                      max_lora_rank=next(allowed for allowed in LORA_RANKS if allowed >= rank))
    return kwargs


def sampling_params(request: GenerationRequest, stop_ids: list[int]) -> dict[str, Any]:
    """SamplingParams fields for one request; greedy is temperature 0. Stop strings are applied by `Row`
    (on our tokenizer's text), so both engines cut at the same place."""
    options = request.options
    params: dict[str, Any] = {"max_tokens": options.max_new_tokens, "repetition_penalty": options.repetition_penalty,
                              "stop_token_ids": stop_ids, "seed": options.seed, "skip_special_tokens": True}
    if options.do_sample:
        params.update(temperature=options.temperature, top_p=options.top_p, top_k=options.top_k)
    else:
        params["temperature"] = 0.0
    if options.logprobs is not None:
        params["logprobs"] = options.logprobs
    return params


class VllmServingEngine:
    def __init__(self, config: ServeConfig) -> None:
        # vLLM reports usage statistics to its developers unless told not to: nothing leaves the machine unasked
        os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
        os.environ.setdefault("DO_NOT_TRACK", "1")
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.lora.request import LoRARequest
        from vllm.v1.engine.async_llm import AsyncLLM

        self.config = config
        self.tokenizer, self.template = load_tokenizer_and_template(config)
        self.pieces = TokenBytes(self.tokenizer)
        named = parse_adapters(config.serving.adapters, [])
        base_adapter = (config.model.adapter_name_or_path or [None])[0]  # validation allows one with vllm
        self.loras: dict[str | None, Any] = {}
        if base_adapter:
            self.loras[None] = LoRARequest("base-adapter", 1, str(Path(base_adapter).resolve()))
        for index, (name, path) in enumerate(named, start=2):
            self.loras[name] = LoRARequest(name, index, str(Path(path).resolve()))
        self.adapters = [name for name, _ in named]
        self.model_names = [served_base_name(config), *self.adapters]
        settings = engine_args(config, [lora.lora_path for lora in self.loras.values()])
        self.engine = AsyncLLM.from_engine_args(AsyncEngineArgs(**settings))
        self.context_length = int(self.engine.model_config.max_model_len)
        self.stop_ids = self.template.stop_token_ids(self.tokenizer) if self.template else [self.tokenizer.eos_token_id]
        self.capacity = config.serving.max_concurrency + config.serving.max_queue
        self.in_flight = 0

    def submit(self, request: GenerationRequest) -> RequestHandle:
        if request.adapter is not None and request.adapter not in self.adapters:
            raise ConfigError(f"no adapter named {request.adapter!r} is served; served: {', '.join(self.model_names)}.")
        if self.in_flight >= self.capacity:
            raise QueueFull(f"{self.in_flight} requests are in flight (max_concurrency + max_queue); retry shortly.")
        loop = asyncio.get_running_loop()
        handle = RequestHandle(fit_to_context(request, self.context_length), loop)
        self.in_flight += 1
        loop.create_task(self._run(handle.request, handle.sink))
        return handle

    async def _run(self, request: GenerationRequest, sink: Any) -> None:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        row = Row(Job(request, sink), self.tokenizer, set(self.stop_ids))
        try:
            outputs = self.engine.generate(TokensPrompt(prompt_token_ids=list(request.prompt_ids)),
                                           SamplingParams(**sampling_params(request, self.stop_ids)), request.id,
                                           lora_request=self.loras.get(request.adapter))
            async for output in outputs:
                if row.done:
                    break  # leaving the generator aborts the request in vLLM
                completion = output.outputs[0]
                for position in range(len(row.tokens), len(completion.token_ids)):
                    if row.done:
                        break
                    row.add(completion.token_ids[position], self._logprob(completion, position, request))
                    piece = row.pending_text()
                    if piece or request.options.logprobs is not None:
                        sink(Event(text=piece, logprobs=tuple(row.logprobs[-1:]) if request.options.logprobs is not None else ()))
                if completion.finish_reason and not row.done:
                    row.finish_reason = "length" if completion.finish_reason == "length" else "stop"
            await outputs.aclose()
        except Exception as error:  # the request ends with an error; the server goes on
            sink(Event(completion=Completion("", "error", len(request.prompt_ids), 0, error=f"{type(error).__name__} in vLLM")))
            return
        finally:
            self.in_flight -= 1
        reason = row.finish_reason or "length"
        text = row.final_text() if reason != "cancelled" else row.text.strip()
        if text[row.sent :] and text.startswith(row.text[: row.sent]):
            sink(Event(text=text[row.sent :]))
        now = time.monotonic()
        sink(Event(completion=Completion(
            text=text, finish_reason=reason, prompt_tokens=len(request.prompt_ids), completion_tokens=len(row.tokens),
            token_ids=tuple(row.tokens), logprobs=tuple(row.logprobs) if request.options.logprobs is not None else None,
            latency_s=max(now - request.created, 0.0))))

    def _logprob(self, completion: Any, position: int, request: GenerationRequest) -> TokenLogprob | None:
        if request.options.logprobs is None or not completion.logprobs or position >= len(completion.logprobs):
            return None
        step = completion.logprobs[position]  # {token id: Logprob(logprob, rank, decoded_token)}
        token = completion.token_ids[position]
        ranked = sorted(step.items(), key=lambda item: item[1].rank or 0)[: request.options.logprobs]
        pieces = self.pieces
        top = tuple((int(i), pieces.text(int(i)), float(lp.logprob), pieces.of(int(i))) for i, lp in ranked)
        return TokenLogprob(token, pieces.text(token), float(step[token].logprob), top, pieces.of(token))

    def queue_depth(self) -> int:
        return max(self.in_flight - self.config.serving.max_concurrency, 0)

    def close(self) -> None:
        self.engine.shutdown()
