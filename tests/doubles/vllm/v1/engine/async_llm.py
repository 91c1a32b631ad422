"""vllm.v1.engine.async_llm.AsyncLLM (test double): vLLM 0.33's async engine as our serving engine uses it.

`from_engine_args`, `model_config.max_model_len`, `generate(prompt, sampling_params, request_id, lora_request=)`
as an async generator of cumulative RequestOutputs (one per new token, as vLLM streams with output_kind
CUMULATIVE), leaving the generator aborts, and `shutdown`. Answers are computed with transformers, one request
at a time, each LoRARequest on its own copy of the base. It is not vLLM: it checks our side of the calls only.
"""

import asyncio
from typing import Any

from ... import CREATED, CompletionOutput, Logprob, RequestOutput, SamplingParams


class _ModelConfig:
    def __init__(self, max_model_len: int) -> None:
        self.max_model_len = max_model_len


class AsyncLLM:
    def __init__(self, settings: dict[str, Any]) -> None:
        from transformers import AutoConfig, AutoTokenizer

        self.settings = settings
        self.model_config = _ModelConfig(AutoConfig.from_pretrained(settings["model"]).max_position_embeddings)
        self.tokenizer = AutoTokenizer.from_pretrained(settings.get("tokenizer") or settings["model"])
        self.models: dict[str | None, Any] = {}
        self.aborted: list[str] = []
        self.lock = asyncio.Lock()

    @classmethod
    def from_engine_args(cls, engine_args: Any, **kwargs: Any) -> "AsyncLLM":
        CREATED.append(("AsyncLLM", dict(engine_args.settings)))
        return cls(engine_args.settings)

    def _model(self, lora_request: Any) -> Any:
        import torch
        from transformers import AutoModelForCausalLM

        path = lora_request.lora_path if lora_request is not None else None
        if path is not None and not self.settings.get("enable_lora"):
            raise ValueError("LoRA is not enabled: start the engine with enable_lora=True")
        if path not in self.models:
            model = AutoModelForCausalLM.from_pretrained(self.settings["model"], dtype=torch.float32).eval()
            if path is not None:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, path).eval()
            self.models[path] = model
        return self.models[path]

    def _complete(self, ids: list[int], params: SamplingParams, lora_request: Any) -> tuple[list[int], list[Any]]:
        import torch

        model = self._model(lora_request)
        sample = {"do_sample": False}
        if params.temperature != 0.0:
            torch.manual_seed(params.seed or 0)
            sample = {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p, "top_k": params.top_k or None}
        with torch.no_grad():
            output = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                    max_new_tokens=params.max_tokens, eos_token_id=params.stop_token_ids,
                                    repetition_penalty=params.repetition_penalty, pad_token_id=self.tokenizer.pad_token_id or 0,
                                    output_logits=True, return_dict_in_generate=True, **sample)
        tokens = output.sequences[0, len(ids):].tolist()
        steps = []
        for token, logits in zip(tokens, output.logits):
            log_probs = torch.log_softmax(logits[0].float(), dim=-1)
            best = torch.topk(log_probs, max(getattr(params, "logprobs", None) or 0, 1))
            step = {int(i): Logprob(float(v), rank + 1) for rank, (v, i) in enumerate(zip(best.values, best.indices))}
            step.setdefault(token, Logprob(float(log_probs[token]), int((log_probs > log_probs[token]).sum()) + 1))
            steps.append(step)
        return tokens, steps

    async def generate(self, prompt: Any, sampling_params: SamplingParams, request_id: str, *, lora_request: Any = None,
                       **kwargs: Any):
        ids = list(prompt["prompt_token_ids"])
        if len(ids) + sampling_params.max_tokens > self.model_config.max_model_len:
            raise ValueError(f"prompt of {len(ids)} tokens + max_tokens exceeds max_model_len {self.model_config.max_model_len}")
        async with self.lock:  # one request at a time in the double
            tokens, steps = await asyncio.to_thread(self._complete, ids, sampling_params, lora_request)
        try:
            for count in range(1, len(tokens) + 1):
                last = count == len(tokens)
                reason = None
                if last:
                    reason = "stop" if tokens[-1] in (sampling_params.stop_token_ids or []) else "length"
                wanted = getattr(sampling_params, "logprobs", None) is not None
                output = CompletionOutput(0, "", tokens[:count], None, steps[:count] if wanted else None, reason)
                yield RequestOutput(request_id, None, ids, None, [output], finished=last)
                await asyncio.sleep(0)
        except GeneratorExit:
            self.aborted.append(request_id)  # vLLM aborts a request whose generator is closed early
            raise

    def shutdown(self) -> None:
        self.models.clear()
