"""Arguments of the inference commands `llmtuner chat`, `infer` and `api` (with the model, data and decoding groups).

`ServingArguments` are shared by all three: which engine, which adapters, what the scheduler may batch and
what the medical safety check does. `ApiArguments` belong to the HTTP server, `InferArguments` to batch inference.
"""

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class ServingArguments:
    infer_backend: Literal["hf", "vllm"] = field(
        default="hf",
        metadata={"help": "hf: transformers on any machine, requests batched together by a scheduler; vllm: vLLM's "
                          "async engine on GPU servers (pip install vllm). Both render prompts with our template."},
    )
    served_model_name: str | None = field(
        default=None,
        metadata={"help": "Name of the base model (with adapter_name_or_path merged in) in /v1/models and in "
                          "requests' `model`; default: the model folder's name (`embedded` for the tiny model)."},
    )
    adapters: list[str] | None = field(
        default=None,
        metadata={"help": "Extra LoRA adapters served beside the base, `name=path`, comma-separated; a request picks one "
                          "by its `model` name. Each applies on top of the base with adapter_name_or_path merged in (as "
                          "training stacks adapters); they run in the same batch as the base without merging (peft's "
                          "mixed-adapter inference; vLLM: one LoRARequest each, on the plain base only)."},
    )
    force_template: bool = field(
        default=False,
        metadata={"help": "Use `template` even when it differs from the one the adapter's training run (or the "
                          "release) recorded. Off: a different template is refused, since answers would not be what was evaluated."},
    )
    safety: Literal["annotate", "refuse", "off"] = field(
        default="annotate",
        metadata={"help": "TCM safety check of every answer (十八反, 十九畏, pregnancy contraindications), as the evaluator "
                          "runs it: annotate = add the flags (`x_safety`), refuse = replace a flagged answer by a warning, off."},
    )
    max_concurrency: int = field(
        default=8, metadata={"help": "Requests generated together in one batch at most (the scheduler's batch size)."}
    )
    max_queue: int = field(
        default=64,
        metadata={"help": "Requests waiting for a batch at most; beyond it the API answers 429 with Retry-After."},
    )
    batch_wait_ms: float = field(
        default=20.0,
        metadata={"help": "How long the scheduler waits at most for more requests before starting a batch smaller than "
                          "the load it recently had (an idle server's first request does not wait)."},
    )
    vllm_gpu_memory_utilization: float = field(
        default=0.9, metadata={"help": "vllm: share of GPU memory vLLM may take for weights and KV cache (0-1]."}
    )
    vllm_tensor_parallel_size: int = field(
        default=1, metadata={"help": "vllm: GPUs the model is split across (tensor parallelism)."}
    )
    vllm_enforce_eager: bool = field(
        default=False, metadata={"help": "vllm: no CUDA graphs (slower, starts faster, less memory)."}
    )


@dataclass
class ApiArguments:
    host: str = field(
        default="127.0.0.1",
        metadata={"help": "Address to listen on. The default answers this machine only; 0.0.0.0 opens it to the network "
                          "(then put it behind TLS)."},
    )
    port: int = field(default=8000, metadata={"help": "TCP port to listen on."})
    api_key: list[str] | None = field(
        default=None,
        metadata={"help": "Accepted API key(s), comma-separated or repeated; also LLMTUNER_API_KEYS (comma-separated) "
                          "and api_key_file. Clients send `Authorization: Bearer KEY`. A server without a key does not start.",
                 "repeatable": True},
    )
    api_key_file: str | None = field(
        default=None, metadata={"help": "A file with one accepted API key per line (# comments allowed)."}
    )
    max_body_bytes: int = field(
        default=1_048_576, metadata={"help": "Largest request body accepted; a larger one is answered 413."}
    )
    audit_log: str | None = field(
        default=None,
        metadata={"help": "Append one JSON line per request: time, key id, model, token counts, latency and the SHA-256 "
                          "of the prompt, never its text."},
    )


@dataclass
class InferArguments:
    input_file: str | None = field(
        default=None,
        metadata={"help": "A .json/.jsonl file of prompts: alpaca (instruction/input), sharegpt (conversations), OpenAI "
                          "(messages) or plain (prompt); or a .txt file, one prompt per line. Or use `eval_dataset`."},
    )
    output_file: str | None = field(
        default=None,
        metadata={"help": "The JSONL written: id, prompt, answer, finish_reason, prompt_tokens, completion_tokens, "
                          "latency_s, input_sha256 and x_safety (unless safety: off); the settings go beside it "
                          "(<name>.settings.json). A rerun continues after the ids it already holds."},
    )
    overwrite_output: bool = field(
        default=False, metadata={"help": "Start output_file afresh (the old one is kept as a .bak) instead of resuming."}
    )
    seed: int = field(default=42, metadata={"help": "Random seed for sampling (do_sample)."})
