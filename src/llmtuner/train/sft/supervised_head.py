"""Run the LM head and the loss only where a token has a label.

In SFT the prompt (system prompt, question) and the padding carry label -100, yet a causal LM
computes logits for every position: a [tokens x vocabulary] matrix, the largest tensor of a step
(8k tokens x 152k vocabulary = 5 GB in fp32 for Qwen2.5), plus its softmax and gradient. On the
project's medical SFT data 42% of the packed tokens are prompt. Here the head sees only the hidden
states whose next token is supervised; the loss is the same cross-entropy, summed over the same
targets and divided by the same count, so training is unchanged up to float rounding.

How: a forward pre-hook on the output embedding module, registered for one training forward and
removed right after, replaces its input [batch, length, hidden] by the selected rows [tokens, hidden];
the trainer's `compute_loss_func` (transformers' hook for custom losses, which keeps its gradient-
accumulation and multi-device normalisation) then scores those rows against the kept targets.
Only transformers' own model classes are handled: remote-code models (ChatGLM3's output layer works
on [length, batch, hidden]) keep the full logits.
"""

import contextlib
from collections.abc import Iterator
from typing import Any

from ...extras.constants import IGNORE_INDEX


def _unwrap(model: Any) -> Any:
    """The transformers model inside peft / DeepSpeed / DDP wrappers."""
    while True:
        if hasattr(model, "module"):  # DeepSpeed engine, DDP
            model = model.module
        elif hasattr(model, "get_base_model"):  # peft
            model = model.get_base_model()
        else:
            return model


def supports_supervised_head(model: Any) -> bool:
    """A transformers-native causal LM whose output embeddings are a separate module (every Llama/Qwen-style model)."""
    inner = _unwrap(model)
    return type(inner).__module__.startswith("transformers.models.") and inner.get_output_embeddings() is not None


class SupervisedHead:
    """Selects the supervised rows before the LM head and computes their loss (see the module docstring)."""

    def __init__(self) -> None:
        self._targets: Any = None

    @contextlib.contextmanager
    def selecting(self, model: Any, labels: Any) -> Iterator[None]:
        """Within the block, the model's head returns logits [supervised tokens, vocabulary] only."""
        targets = labels[:, 1:]
        keep = labels.new_zeros(labels.shape, dtype=bool)
        keep[:, :-1] = targets != IGNORE_INDEX  # position t predicts token t + 1

        def select(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
            return (args[0][keep], *args[1:])

        handle = _unwrap(model).get_output_embeddings().register_forward_pre_hook(select)
        self._targets = targets[targets != IGNORE_INDEX]  # row-major, the order boolean indexing keeps
        try:
            yield
        finally:
            handle.remove()
            self._targets = None

    def loss(self, outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        """Sum of token cross-entropies / number of targets (of the whole accumulated batch when given)."""
        import torch
        import torch.nn.functional as F

        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        if self._targets is not None and logits.dim() == 2:
            targets = self._targets.to(logits.device)
        else:  # evaluation, or a forward outside `selecting`: the full logits, shifted as usual
            logits = logits[:, :-1, :].reshape(-1, logits.size(-1))
            targets = labels[:, 1:].reshape(-1).to(logits.device)
        total = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE_INDEX, reduction="sum")
        count = (targets != IGNORE_INDEX).sum() if num_items_in_batch is None else num_items_in_batch
        # clamp: a batch without a single target has total 0 and must give 0, not 0/0
        return total / torch.as_tensor(count, device=total.device).clamp(min=1)
