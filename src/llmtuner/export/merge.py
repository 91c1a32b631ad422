"""Load the base unquantised, fit its embeddings to the adapters, and merge the adapters one by one.

Each adapter is merged into the base as training stacked them (earlier adapters become part of the base,
see model/adapter.py). With verification on, every merge is checked against the unmerged PeftModel on the
same prompts, in the merge precision, before the next adapter is loaded.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..extras.errors import ConfigError
from ..extras.logging import get_logger
from ..hparams import ModelArguments
from .preflight import AdapterInfo, ExportPlan
from .verify import VerificationError, check, compute_logits, max_abs_diff

logger = get_logger(__name__)

TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


@dataclass
class MergeStep:
    adapter: str
    kind: str
    effect: float | None = None
    """Largest logit change the adapter makes on the probe prompts (0 means an untrained adapter)."""
    check: dict[str, float] | None = None


def _embedding_names(model: Any) -> list[str]:
    wanted = [m for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m is not None]
    return [name for name, module in model.named_modules() if name and any(module is w for w in wanted)]


def saved_embedding_rows(adapter: AdapterInfo, names: list[str]) -> int | None:
    """Rows of the embedding / output head the adapter saved in full (modules_to_save, resized vocabulary).

    Read from the safetensors header only; a legacy adapter_model.bin is not opened here (its rows are
    then taken from the tokenizer, as training did).
    """
    if adapter.weights.suffix != ".safetensors":
        return None
    from safetensors import safe_open

    rows = []
    with safe_open(str(adapter.weights), framework="pt") as handle:
        for key in handle.keys():  # noqa: SIM118 - a safetensors handle is not a dict
            body = key.removeprefix("base_model.model.")
            if "lora_" not in body and key.endswith("weight") and any(body.startswith(f"{name}.") for name in names):
                rows.append(handle.get_slice(key).get_shape()[0])
    return max(rows) if rows else None


def load_base(plan: ExportPlan, model_args: ModelArguments, tokenizer: Any) -> Any:
    """The base in the merge dtype, never quantised, with embeddings sized as the adapters were trained."""
    from ..model.loader import load_model

    settings = dataclasses.replace(model_args, model_name_or_path=plan.base_path, dtype=TORCH_DTYPES[plan.merge_dtype],
                                   quantization_bit=None)
    logger.info("Loading the base %s in %s, unquantised, to merge %d adapter(s).", plan.base_path, plan.merge_dtype,
                len(plan.adapters))
    model, resized = load_model(settings, tokenizer, is_trainable=False)  # embeddings grow to the tokenizer, as in training
    names = _embedding_names(model)
    saved = [rows for adapter in plan.adapters if (rows := saved_embedding_rows(adapter, names))]
    current = model.get_input_embeddings().weight.shape[0]
    if saved and max(saved) != current:
        if max(saved) < len(tokenizer):
            raise ConfigError(f"The adapters saved embeddings with {max(saved)} rows, but their tokenizer has "
                              f"{len(tokenizer)} tokens: the tokenizer in {plan.tokenizer_dir} is not the one they "
                              "were trained with.")
        # the padded size training chose; the rows themselves are replaced by the adapter's saved weights
        model.resize_token_embeddings(max(saved), mean_resizing=False)
        logger.info("Resized the embeddings to the %d rows the adapter saved.", max(saved))
    elif resized and not saved:
        logger.warning("The tokenizer has %d tokens, more than the base's embedding rows, but no adapter saved the "
                       "resized embeddings: the new rows are freshly initialised, i.e. untrained.", len(tokenizer))
    return model


def _load_adapter(model: Any, adapter: AdapterInfo, base_path: str) -> Any:
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, str(adapter.path), is_trainable=False)
    except (RuntimeError, ValueError, KeyError) as error:
        detail = "\n    ".join(str(error).strip().splitlines()[:4])
        raise ConfigError(f"Adapter {adapter.path} does not fit the base {base_path}:\n    {detail}\nIt was trained on "
                          f"{adapter.config.get('base_model_name_or_path')!r}; give that model (and, for an expanded "
                          "vocabulary, the tokenizer saved with the adapter).") from error


def merge_adapters(model: Any, plan: ExportPlan, inputs: list[list[int]] | None,
                   tolerance: float | None) -> tuple[Any, list[MergeStep], list[Any] | None]:
    """Merge every adapter; returns (model, steps, base + adapters logits before merging, or None unverified)."""
    steps: list[MergeStep] = []
    current = compute_logits(model, inputs) if inputs is not None else None
    reference = current
    for adapter in plan.adapters:
        peft_model = _load_adapter(model, adapter, plan.base_path)
        step = MergeStep(adapter=str(adapter.path), kind=adapter.kind)
        if inputs is not None:
            reference = compute_logits(peft_model, inputs)
            step.effect = max_abs_diff(current, reference)
        try:
            model = peft_model.merge_and_unload(safe_merge=True)  # safe_merge refuses NaN/inf merged weights
        except ValueError as error:
            raise VerificationError(f"Merging {adapter.path} gave broken weights: {error}") from error
        logger.info("Merged %s adapter %s.", adapter.kind, adapter.path)
        if inputs is not None and reference is not None:
            current = compute_logits(model, inputs)
            step.check = check(f"merged model vs base + {adapter.path.name}", max_abs_diff(reference, current),
                               reference, plan.merge_dtype, tolerance)
            if step.effect == 0:
                logger.warning("Adapter %s does not change the model's logits at all: is it untrained (lora_B zero)?",
                               adapter.path)
        steps.append(step)
    return model, steps, reference


def cast(model: Any, dtype: str) -> Any:
    """The merged model in the release dtype (a no-op when it is already there)."""
    import torch

    target = getattr(torch, TORCH_DTYPES[dtype])
    if next(model.parameters()).dtype != target:
        logger.info("Casting the merged weights to %s.", dtype)
        # parameters only: `model.to()` would also round buffers such as RoPE's inv_freq, which a model loaded
        # with dtype=... keeps in fp32, and the in-memory check would then not compute what the release does
        for param in model.parameters():
            param.data = param.data.to(target)
    model.config.dtype = target  # config.json records the release dtype, which `dtype="auto"` loads
    return model
