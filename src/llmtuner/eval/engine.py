"""Who runs the model during evaluation, chosen by `infer_backend`.

  hf    transformers on any machine (CPU or GPU): batched generation with left padding and KV cache.
  vllm  vLLM on GPU servers (`vllm_engine.py`): continuous batching and paged attention, built for
        serving throughput (not yet measured against `hf` in this project: that needs a GPU).

The tasks talk to an engine through three calls only, and prompts go in as token ids rendered by our
own template, so both engines write the same records and the same report.
"""

import inspect
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from ..data.template import Template
from ..extras.errors import ConfigError
from ..hparams import EvalConfig, ServeConfig
from .tokenizer import load_tokenizer_and_template


class InferenceEngine(Protocol):
    tokenizer: Any
    template: Template | None

    def generate(self, prompts: list[list[int]]) -> Iterator[list[tuple[int, str]]]:
        """Answers as (prompt index, text), yielded in slices the caller stores before the next one starts."""
        ...

    def next_token_scores(self, prompts: list[list[int]], token_ids: list[int]) -> list[list[float]]:
        """Per prompt, the logits (or log-probabilities) of `token_ids` as the next token."""
        ...

    def sequence_nll(self, blocks: list[list[int]]) -> list[tuple[float, int]]:
        """Per token block, (summed negative log-likelihood of tokens 2..n, number of those tokens)."""
        ...


def load_for_eval(args: EvalConfig | ServeConfig) -> tuple[Any, Any, Template | None]:
    """(model, tokenizer, template): base + adapters merged, eval mode, on the GPU when there is one.
    The serving commands load through here too, so what they answer is what was evaluated."""
    import torch

    from ..hparams import FinetuningArguments
    from ..model.adapter import init_adapter
    from ..model.loader import load_model

    tokenizer, template = load_tokenizer_and_template(args)
    model, _ = load_model(args.model, tokenizer, is_trainable=False)
    if args.model.adapter_name_or_path:
        model = init_adapter(model, args.model, FinetuningArguments(finetuning_type="lora"), is_trainable=False)
    if torch.cuda.is_available() and args.model.quantization_bit is None:
        model = model.to("cuda")
    return model.eval(), tokenizer, template


def _keeps_last_logits_only(model: Any) -> bool:
    """Whether the model can return logits for the last position only (`logits_to_keep`): full logits of a
    150k vocabulary for every prompt token cost gigabytes per batch. Remote-code models may lack it."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a peft wrapper passes it on
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def next_token_logits(
    model: Any, prompts: Sequence[list[int]], token_ids: Sequence[int], batch_size: int, pad_token_id: int
) -> list[list[float]]:
    """Per prompt, the logits of `token_ids` as the token after it (one forward pass per batch)."""
    import torch

    from ..data.collator import GenerationCollator

    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}.")
    collator = GenerationCollator(pad_token_id=pad_token_id)  # padding is masked anyway
    device = next(model.parameters()).device
    extra = {"logits_to_keep": 1} if _keeps_last_logits_only(model) else {}
    was_training = model.training
    model.eval()
    scores: list[list[float]] = []
    try:
        with torch.no_grad():
            for start in range(0, len(prompts), batch_size):
                batch = collator([{"input_ids": ids} for ids in prompts[start : start + batch_size]])
                attention = batch["attention_mask"].to(device)
                # Positions count real tokens only, as generate() sets them: a left-padded row sees the
                # positions it has alone (with RoPE the shift would only cost rounding; with learned
                # absolute positions it would change the scores with the batch's longest prompt).
                positions = (attention.cumsum(-1) - 1).clamp(min=0)
                output = model(input_ids=batch["input_ids"].to(device), attention_mask=attention, position_ids=positions, **extra)
                last = output.logits[:, -1, :].float()  # left padding: the last column is every row's next token
                scores += last[:, list(token_ids)].tolist()
    finally:
        model.train(was_training)
    return scores


class HfEngine:
    """transformers: the model this process loads, batches of `batch_size`."""

    def __init__(self, args: EvalConfig) -> None:
        self.args = args
        self.model, self.tokenizer, self.template = load_for_eval(args)

    @property
    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        return pad if pad is not None else 0  # padding is masked anyway

    def generate(self, prompts: list[list[int]]) -> Iterator[list[tuple[int, str]]]:
        from .generate import generate_batches

        stops = self.template.stop_token_ids(self.tokenizer) if self.template else [self.tokenizer.eos_token_id]
        yield from generate_batches(self.model, self.tokenizer, prompts, self.args.generating.to_generate_kwargs(),
                                    self.args.eval.batch_size, stops, self.args.eval.seed)

    def next_token_scores(self, prompts: list[list[int]], token_ids: list[int]) -> list[list[float]]:
        return next_token_logits(self.model, prompts, token_ids, self.args.eval.batch_size, self._pad_id)

    def sequence_nll(self, blocks: list[list[int]]) -> list[tuple[float, int]]:
        import torch

        from ..data.collator import SupervisedCollator

        collate = SupervisedCollator(self._pad_id)
        results: list[tuple[float, int]] = []
        for start in range(0, len(blocks), self.args.eval.batch_size):
            batch = collate([{"input_ids": block} for block in blocks[start : start + self.args.eval.batch_size]])
            with torch.no_grad():
                logits = self.model(input_ids=batch["input_ids"].to(self.model.device),
                                    attention_mask=batch["attention_mask"].to(self.model.device)).logits.float()
            labels = batch["labels"][:, 1:].to(logits.device)
            losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), labels, ignore_index=-100, reduction="none")
            results += [(float(row_loss.sum()), int((row_labels != -100).sum())) for row_loss, row_labels in zip(losses, labels)]
        return results


def _vllm_engine(args: EvalConfig) -> InferenceEngine:
    from .vllm_engine import VllmEngine  # imports vllm, which only GPU servers have

    return VllmEngine(args)


ENGINES: dict[str, Any] = {"hf": HfEngine, "vllm": _vllm_engine}


def load_engine(args: EvalConfig) -> InferenceEngine:
    return ENGINES[args.eval.infer_backend](args)
