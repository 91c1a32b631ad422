"""Test double of vLLM 0.33's offline API (`LLM`, `SamplingParams`), for machines without a GPU.

It accepts exactly the argument names vLLM 0.33 accepts (copied from its signatures) and answers with
transformers, so a test can run the vllm engine end to end and compare its records with the hf engine's.
Only the parts `llmtuner.eval.vllm_engine` uses behave; everything else raises. Every LLM and
SamplingParams built is recorded in CREATED for tests to inspect. It is not vLLM: the tests that use it are
named `*vllm_double*`; the one test of real vLLM is tests/test_eval_engines.py's `gpu`-marked test.
"""

from dataclasses import dataclass, field
from typing import Any

CREATED: list[tuple[str, dict[str, Any]]] = []

_LLM_ARGS = {  # LLM.__init__ parameters, then the EngineArgs fields it forwards that this double knows
    "model", "runner", "convert", "tokenizer", "tokenizer_mode", "skip_tokenizer_init", "trust_remote_code",
    "allowed_local_media_path", "allowed_media_domains", "tensor_parallel_size", "dtype", "quantization", "revision",
    "tokenizer_revision", "chat_template", "seed", "gpu_memory_utilization", "cpu_offload_gb", "offload_group_size",
    "offload_num_in_group", "offload_prefetch_step", "offload_params", "enforce_eager", "enable_return_routed_experts",
    "return_sampling_mask", "disable_custom_all_reduce", "hf_token", "hf_overrides", "mm_processor_kwargs",
    "pooler_config", "structured_outputs_config", "profiler_config", "attention_config", "kv_cache_memory_bytes",
    "compilation_config", "quantization_config", "logits_processors", "spec_method", "spec_model", "spec_tokens",
    "max_model_len", "enable_lora", "max_loras", "max_lora_rank", "disable_log_stats", "download_dir", "generation_config",
}
_SAMPLING_ARGS = {
    "n", "presence_penalty", "frequency_penalty", "repetition_penalty", "temperature", "watermarking", "top_p", "top_k",
    "min_p", "seed", "stop", "stop_token_ids", "ignore_eos", "max_tokens", "min_tokens", "logprobs", "prompt_logprobs",
    "prompt_logprob_token_ids", "prompt_logprob_start", "logprob_token_ids", "flat_logprobs", "detokenize",
    "skip_special_tokens", "spaces_between_special_tokens", "include_stop_str_in_output", "output_kind",
    "stream_interval", "skip_clone", "output_text_buffer_length", "structured_outputs", "logit_bias",
    "allowed_token_ids", "extra_args", "bad_words", "skip_reading_prefix_cache", "thinking_token_budget",
    "repetition_detection", "routed_experts_prompt_start", "trace_decode_token_ids",
}
_SAMPLING_DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "repetition_penalty": 1.0, "max_tokens": 16,
                      "seed": None, "stop_token_ids": None, "logprob_token_ids": None, "prompt_logprobs": None,
                      "skip_special_tokens": True}
_VALID_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


class SamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - _SAMPLING_ARGS
        if unknown:
            raise TypeError(f"SamplingParams got unexpected arguments {sorted(unknown)}")
        self.__dict__.update({**_SAMPLING_DEFAULTS, **kwargs})
        CREATED.append(("SamplingParams", dict(kwargs)))


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    prompt_logprobs: list[dict[int, Logprob] | None] | None
    outputs: list[CompletionOutput] = field(default_factory=list)
    finished: bool = True


class LLM:
    def __init__(self, model: str, **kwargs: Any) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        unknown = set(kwargs) - _LLM_ARGS
        if unknown:
            raise TypeError(f"LLM got unexpected arguments {sorted(unknown)}")
        if kwargs.get("enable_lora") and kwargs.get("max_lora_rank", 16) not in _VALID_RANKS:
            raise ValueError(f"max_lora_rank must be one of {_VALID_RANKS}")
        CREATED.append(("LLM", {"model": model, **kwargs}))
        from transformers import AutoConfig

        limit = AutoConfig.from_pretrained(model).max_position_embeddings
        if kwargs.get("max_model_len") and kwargs["max_model_len"] > limit:  # as vLLM's _get_and_verify_max_len
            raise ValueError(f"max_model_len {kwargs['max_model_len']} exceeds the model's limit {limit}")
        self.settings = {"model": model, **kwargs}
        self.tokenizer = AutoTokenizer.from_pretrained(kwargs.get("tokenizer") or model)
        self.base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
        self.adapters: dict[str, Any] = {}

    def _model(self, lora_request: Any) -> Any:
        if lora_request is None:
            return self.base
        if not self.settings.get("enable_lora"):
            raise ValueError("LoRA is not enabled: start the LLM with enable_lora=True")
        if lora_request.lora_path not in self.adapters:
            from peft import PeftModel

            self.adapters.clear()  # one adapter at a time (max_loras=1); PeftModel wraps the base in place
            self.adapters[lora_request.lora_path] = PeftModel.from_pretrained(self.base, lora_request.lora_path).eval()
        return self.adapters[lora_request.lora_path]

    def generate(self, prompts: Any, sampling_params: SamplingParams | None = None, *, use_tqdm: Any = True,
                 lora_request: Any = None, priority: Any = None, tokenization_kwargs: Any = None,
                 mm_processor_kwargs: Any = None) -> list[RequestOutput]:
        import torch

        params = sampling_params or SamplingParams()
        model = self._model(lora_request)
        limit = self.settings.get("max_model_len")
        results = []
        for number, prompt in enumerate(prompts if isinstance(prompts, list) else [prompts]):
            ids = list(prompt["prompt_token_ids"])
            if limit is not None and len(ids) + params.max_tokens > limit:
                raise ValueError(f"prompt of {len(ids)} tokens + max_tokens exceeds max_model_len {limit}")
            prompt_logprobs = None
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([ids])).logits[0].float()
            log_probs = torch.log_softmax(logits, dim=-1)
            if params.prompt_logprobs is not None:
                prompt_logprobs = [None] + [{token: Logprob(float(log_probs[position - 1, token]))}
                                            for position, token in enumerate(ids) if position > 0]
            generated: list[int] = []
            first_logprobs = None
            if params.logprob_token_ids is not None:
                first_logprobs = [{token: Logprob(float(log_probs[-1, token])) for token in params.logprob_token_ids}]
            if params.max_tokens == 1 and (params.prompt_logprobs is not None or params.logprob_token_ids is not None):
                generated = [int(log_probs[-1].argmax())]
            else:
                if params.temperature != 0.0:
                    torch.manual_seed(params.seed or 0)
                sample = {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p,
                          "top_k": params.top_k or None} if params.temperature != 0.0 else {"do_sample": False}
                with torch.no_grad():
                    output = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                            max_new_tokens=params.max_tokens, eos_token_id=params.stop_token_ids,
                                            repetition_penalty=params.repetition_penalty,
                                            pad_token_id=self.tokenizer.pad_token_id or 0, **sample)
                generated = output[0, len(ids):].tolist()
            text = self.tokenizer.decode(generated, skip_special_tokens=params.skip_special_tokens)
            results.append(RequestOutput(str(number), None, ids, prompt_logprobs,
                                         [CompletionOutput(0, text, generated, None, first_logprobs, "stop")]))
        return results
