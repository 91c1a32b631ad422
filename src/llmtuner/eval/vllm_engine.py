"""The vLLM engine (`infer_backend: vllm`): evaluation on GPU servers.

Prompts go in as token ids rendered by our template and answers are decoded by our tokenizer, exactly as
the hf engine does, so both write the same records; greedy answers agree up to kernel numerics. A LoRA
adapter is served by vLLM's LoRA support without merging. Combinations vLLM cannot serve (GGUF bases,
bitsandbytes quantisation, DoRA, adapters that train the embeddings, several stacked adapters, beam search)
are refused in `hparams/validate.py` before anything loads. Written against vLLM 0.33.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..extras.errors import ConfigError
from ..extras.logging import get_logger
from ..hparams import EvalConfig, GeneratingArguments
from ..hparams.checks import largest_lora_rank
from ..model.loader import resolve_model_path, source_kwargs
from .tokenizer import load_tokenizer_and_template

logger = get_logger(__name__)

# Prompts per vLLM call. vLLM schedules the requests of one call together, so calls should be large; between
# calls the answers are stored, so a stopped evaluation loses at most one slice.
PROMPTS_PER_CALL = 256
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's accepted max_lora_rank values


def sampling_kwargs(generating: GeneratingArguments, stop_token_ids: list[int], seed: int) -> dict[str, Any]:
    """SamplingParams for our decoding arguments; greedy is temperature 0 in vLLM."""
    kwargs: dict[str, Any] = {"max_tokens": generating.max_new_tokens, "repetition_penalty": generating.repetition_penalty,
                              "stop_token_ids": stop_token_ids, "seed": seed, "skip_special_tokens": True}
    if generating.do_sample:
        kwargs.update(temperature=generating.temperature, top_p=generating.top_p, top_k=generating.top_k)
    else:
        kwargs["temperature"] = 0.0
    return kwargs


def adapter_rank(adapter_dir: str) -> int:
    """The smallest max_lora_rank vLLM accepts that holds the adapter's rank."""
    config = json.loads((Path(adapter_dir) / "adapter_config.json").read_text(encoding="utf-8"))
    return next(rank for rank in LORA_RANKS if rank >= largest_lora_rank(config))  # validation refused > 512


def engine_kwargs(args: EvalConfig, model_max_len: int | None = None) -> dict[str, Any]:
    """LLM(...) arguments: the model folder, precision, context length, LoRA and GPU settings.

    The context is cutoff_len + max_new_tokens, capped at the model's own limit (vLLM refuses to start above
    it). generation_config "vllm": decoding follows our SamplingParams only, not the model folder's defaults,
    as the hf engine does.
    """
    path = resolve_model_path(args.model.model_name_or_path or "")
    wanted = args.data.cutoff_len + args.generating.max_new_tokens
    kwargs: dict[str, Any] = {
        "model": path, "tokenizer": path, "dtype": args.model.dtype, "seed": args.eval.seed,
        "trust_remote_code": args.model.trust_remote_code, "revision": args.model.model_revision,
        "download_dir": args.model.cache_dir, "generation_config": "vllm",
        "max_model_len": min(wanted, model_max_len) if model_max_len else wanted,
        "gpu_memory_utilization": args.eval.vllm_gpu_memory_utilization,
        "tensor_parallel_size": args.eval.vllm_tensor_parallel_size, "enforce_eager": args.eval.vllm_enforce_eager,
    }
    if args.model.adapter_name_or_path:
        (adapter,) = args.model.adapter_name_or_path  # validation allows one
        kwargs.update(enable_lora=True, max_loras=1, max_lora_rank=adapter_rank(adapter))
    return kwargs


def model_max_len(args: EvalConfig) -> int | None:
    """The longest context the model's config allows (max_position_embeddings), if it says."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(resolve_model_path(args.model.model_name_or_path or ""), **source_kwargs(args.model))
    config = getattr(config, "get_text_config", lambda: config)()
    return getattr(config, "max_position_embeddings", None)


class VllmEngine:
    def __init__(self, args: EvalConfig) -> None:
        import os

        # vLLM reports usage statistics to its developers unless told not to: nothing leaves the machine unasked
        os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
        os.environ.setdefault("DO_NOT_TRACK", "1")
        from vllm import LLM
        from vllm.lora.request import LoRARequest

        self.args = args
        self.tokenizer, self.template = load_tokenizer_and_template(args)
        adapters = args.model.adapter_name_or_path or []
        self.lora_request = LoRARequest("adapter", 1, str(Path(adapters[0]).resolve())) if adapters else None
        settings = engine_kwargs(args, model_max_len(args))
        self.llm_max_len = settings["max_model_len"]
        self.llm = LLM(**settings)

    def _fit(self, prompts: list[list[int]], new_tokens: int) -> list[list[int]]:
        """Prompts cut to fit the context with room for the answer, keeping the end (the question)."""
        room = self.llm_max_len - new_tokens
        if room < 1:
            raise ConfigError(f"max_new_tokens {new_tokens} leaves no room for a prompt in vLLM's context of "
                              f"{self.llm_max_len} tokens (the model's limit). Lower max_new_tokens.")
        cut = sum(len(ids) > room for ids in prompts)
        if cut:
            logger.warning("%d prompt(s) longer than %d tokens were cut to their last %d tokens.", cut, room, room)
        return [ids[-room:] for ids in prompts]

    def _run(self, prompts: list[list[int]], **params: Any) -> list[Any]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        limit = self.llm_max_len
        longest = max((len(ids) for ids in prompts), default=0)
        if longest + params.get("max_tokens", 1) > limit:
            raise ConfigError(f"A block of {longest} tokens does not fit vLLM's context of {limit} tokens "
                              f"(cutoff_len + max_new_tokens, at most the model's limit). Lower cutoff_len.")
        requests = [TokensPrompt(prompt_token_ids=list(ids)) for ids in prompts]
        return self.llm.generate(requests, SamplingParams(**params), use_tqdm=False, lora_request=self.lora_request)

    def generate(self, prompts: list[list[int]]) -> Iterator[list[tuple[int, str]]]:
        stops = self.template.stop_token_ids(self.tokenizer) if self.template else [self.tokenizer.eos_token_id]
        params = sampling_kwargs(self.args.generating, stops, self.args.eval.seed)
        for start in range(0, len(prompts), PROMPTS_PER_CALL):
            outputs = self._run(self._fit(prompts[start : start + PROMPTS_PER_CALL], params["max_tokens"]), **params)
            # decoded by our tokenizer, as the hf engine does, so the text is the same for the same tokens
            yield [(start + row, self.tokenizer.decode(list(output.outputs[0].token_ids), skip_special_tokens=True).strip())
                   for row, output in enumerate(outputs)]

    def next_token_scores(self, prompts: list[list[int]], token_ids: list[int]) -> list[list[float]]:
        # logprob_token_ids returns exactly these ids' log-probabilities at the first generated position
        outputs = self._run(self._fit(prompts, 1), max_tokens=1, temperature=0.0, logprob_token_ids=list(token_ids))
        return [[output.outputs[0].logprobs[0][token].logprob for token in token_ids] for output in outputs]

    def sequence_nll(self, blocks: list[list[int]]) -> list[tuple[float, int]]:
        # prompt_logprobs=0 returns the log-probability of each prompt token itself (none for the first)
        outputs = self._run(blocks, max_tokens=1, temperature=0.0, prompt_logprobs=0)
        results = []
        for block, output in zip(blocks, outputs):
            steps = output.prompt_logprobs[1:]
            results.append((-sum(step[token].logprob for step, token in zip(steps, block[1:])), len(block) - 1))
        return results
