"""Arguments of `llmtuner eval` / `python src/evaluate.py` (with ModelArguments, DataArguments, GeneratingArguments)."""

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class EvaluationArguments:
    task: Literal["qa", "mcq", "ppl"] = field(
        default="qa",
        metadata={"help": "qa: generate answers and score ROUGE/BLEU/terminology/safety; mcq: exam accuracy; "
                          "ppl: perplexity on held-out text."},
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "Where predictions.jsonl, metrics.json, report.md and the chart go."}
    )
    batch_size: int = field(default=16, metadata={"help": "Prompts per generation / forward batch."})
    term_lexicon: list[str] | None = field(
        default=None,
        metadata={"help": "Typed term lexicon file(s) `term<TAB>type`, comma-separated; "
                          "default: medical_terms.txt in dataset_dir when present."},
    )
    predictions_file: str | None = field(
        default=None,
        metadata={"help": "Score an existing JSONL of predictions (prompt/question, label/reference, predict/prediction) "
                          "without loading a model; LLaMA-Factory's generated_predictions.jsonl loads as is."},
    )
    compare: list[str] | None = field(
        default=None, metadata={"help": "Two evaluation output folders, `--compare DIR_A DIR_B`: side-by-side table with deltas."}
    )
    mcq_method: Literal["likelihood", "generate"] = field(
        default="likelihood",
        metadata={"help": "mcq: likelihood = option letter with the highest next-token probability (C-Eval style); "
                          "generate = free answer, letter parsed from the text."},
    )
    overwrite_predictions: bool = field(
        default=False, metadata={"help": "Start predictions.jsonl afresh instead of skipping ids it already holds."}
    )
    infer_backend: Literal["hf", "vllm"] = field(
        default="hf",
        metadata={"help": "hf: transformers, any machine; vllm: vLLM on GPU servers (pip install vllm): continuous "
                          "batching and paged KV cache, same predictions.jsonl and report."},
    )
    vllm_gpu_memory_utilization: float = field(
        default=0.9, metadata={"help": "vllm: share of GPU memory vLLM may take for weights and KV cache (0-1]."}
    )
    vllm_tensor_parallel_size: int = field(
        default=1, metadata={"help": "vllm: GPUs the model is split across (tensor parallelism)."}
    )
    vllm_enforce_eager: bool = field(
        default=False, metadata={"help": "vllm: skip CUDA graph capture (faster start, less memory, slower decoding)."}
    )
    seed: int = field(default=42, metadata={"help": "Random seed (sampling is deterministic given the seed)."})
    worst_samples: int = field(default=10, metadata={"help": "How many lowest-scoring samples report.md lists."})
