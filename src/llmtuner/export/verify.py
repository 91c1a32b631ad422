"""Checks that the release computes what base + adapters computed, and that it loads and generates on its own.

Tolerances (max |logit difference| over a few prompts, relative to max(1, largest |logit|) so that they
mean the same for a tiny model and a 70B one; `--verify_tolerance` overrides them):

- fp32: 1e-3. Merging changes only the order of float operations (x(W + BA) against xW + xBA). Measured on
  the tiny model: 1.4e-6 to 5e-6 for LoRA, DoRA, stacked adapters and an expanded vocabulary. A wrong merge
  (scaling, a missing adapter, lost embedding rows) moves logits by about as much as the adapter itself
  (0.1-1.4 here), so this is the check that proves the merge.
- fp16: 2e-2 and bf16: 1e-1. Casting rounds every weight (bf16 keeps 8 mantissa bits, relative step 2^-8)
  and the 16-bit forward rounds again. Measured on the tiny model against the fp32 base + adapter (logits up
  to ~1.6): fp16 1.6e-3, bf16 1.2e-2 to 1.5e-2; deep models accumulate more, hence the margin. These limits
  catch fp16 overflow (inf/NaN) and gross errors; the exact check is the fp32 merge before the cast.

Reloading the written folder must give the in-memory model's logits (same dtype, same weights; measured 0),
which also proves the shards, the index and tied/resized embeddings were written completely.
"""

import json
import logging
import warnings
from pathlib import Path
from typing import Any

from ..data.template import Template
from ..extras.errors import UserError
from ..extras.logging import get_logger
from .chat_template import PROBE_CONVERSATIONS, parity_failures
from .tokenizer import ChatTemplateChoice

logger = get_logger(__name__)

TOLERANCES = {"fp32": 1e-3, "fp16": 2e-2, "bf16": 1e-1}
PROBE_QUESTIONS = (
    "黄芪有什么功效？",
    "患者头痛三天，伴恶寒发热、鼻塞流清涕，舌苔薄白，脉浮紧，应如何辨证用药？",
    "What is the first-line drug for type 2 diabetes, and how does TCM view 消渴?",
)
GENERATE_TOKENS = 8


class VerificationError(UserError):
    """The merged or reloaded model does not compute what it should: nothing is published."""


def probe_inputs(tokenizer: Any, template: Template) -> list[list[int]]:
    """Generation prompts in the training format, plus the tokenizer's last ids (an expanded vocabulary's new rows)."""
    prompts = [template.encode_prompt(tokenizer, [{"role": "user", "content": q}]) for q in PROBE_QUESTIONS]
    last = list(range(max(0, len(tokenizer) - 16), len(tokenizer)))
    return prompts + [prompts[0] + last]


def compute_logits(model: Any, inputs: list[list[int]]) -> list[Any]:
    """fp32 logits on the CPU, one prompt at a time (prompts differ in length; padding would add its own error)."""
    import torch

    device = next(model.parameters()).device
    results = []
    with torch.no_grad():
        for ids in inputs:
            output = model(input_ids=torch.tensor([ids], device=device), use_cache=False)
            results.append(output.logits[0].float().cpu())
    return results


def max_abs_diff(first: list[Any], second: list[Any]) -> float:
    """Largest |a - b| over all prompts; inf when either side holds a NaN or inf."""
    import torch

    worst = 0.0
    for a, b in zip(first, second, strict=True):
        if a.shape != b.shape:
            raise VerificationError(f"Logit shapes differ: {tuple(a.shape)} against {tuple(b.shape)} (vocabulary size).")
        if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
            return float("inf")
        worst = max(worst, float((a - b).abs().max()))
    return worst


def logit_scale(logits: list[Any]) -> float:
    return max(1.0, max(float(item.abs().max()) for item in logits))


def check(what: str, diff: float, reference: list[Any], dtype: str, tolerance: float | None) -> dict[str, float]:
    """Log the difference and raise VerificationError above the tolerance for `dtype`."""
    scale = logit_scale(reference)
    limit = (tolerance or TOLERANCES[dtype]) * scale
    logger.info("Verify %s: max |logit diff| = %.3g (limit %.3g, %s).", what, diff, limit, dtype)
    if not diff <= limit:  # also catches NaN
        raise VerificationError(f"Verification failed: {what} differ by {diff:.3g} in the logits, above the {dtype} "
                                f"limit {limit:.3g}. Nothing was written to export_dir.")
    return {"max_abs_diff": diff, "limit": limit}


def _cpu_4bit_shapes_fallback(model: Any) -> None:
    """Route 4-bit layers whose shape bitsandbytes' packed CPU kernel cannot take to its generic CPU path.

    bitsandbytes 0.50 repacks 4-bit weights for its AVX512-BF16 CPU kernel on the first no-grad forward
    and asserts out_features % 32 == 0 and in_features % blocksize == 0; real models' sizes satisfy it,
    the tiny model's (688) do not. GPUs are not affected.
    """
    for module in model.modules():
        if type(module).__name__ == "Linear4bit" and getattr(module, "support_avx512bf16_for_cpu", False):
            state = getattr(module.weight, "quant_state", None)
            blocksize = getattr(state, "blocksize", 64)
            if module.out_features % 32 or module.in_features % blocksize:
                module.support_avx512bf16_for_cpu = False


def reload_and_generate(folder: Path, inputs: list[list[int]], trust_remote_code: bool) -> tuple[Any, Any, list[Any], list[int]]:
    """Load `folder` with plain AutoTokenizer / AutoModelForCausalLM, offline; (model, tokenizer, logits, generated ids)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    common = {"local_files_only": True, "trust_remote_code": trust_remote_code}  # = HF_HUB_OFFLINE for this load
    tokenizer = AutoTokenizer.from_pretrained(str(folder), **common)
    kwargs: dict[str, Any] = {"dtype": "auto"}
    quantized = "quantization_config" in json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if quantized:
        kwargs["device_map"] = {"": 0} if torch.cuda.is_available() else {"": "cpu"}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*MatMul8bitLt.*")  # one line per layer and call, on CPU
        model = AutoModelForCausalLM.from_pretrained(str(folder), **common, **kwargs).eval()
        if quantized and not torch.cuda.is_available():
            _cpu_4bit_shapes_fallback(model)
        logits = compute_logits(model, inputs)
        device = next(model.parameters()).device
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": PROBE_QUESTIONS[0]}], tokenize=True,
                                               add_generation_prompt=True, return_dict=True, return_tensors="pt")
        with torch.no_grad():
            # min_new_tokens: a random tiny model may emit EOS at once; the point is that decoding runs
            output = model.generate(**prompt.to(device), max_new_tokens=GENERATE_TOKENS, min_new_tokens=GENERATE_TOKENS,
                                    do_sample=False)
    generated = output[0, prompt["input_ids"].shape[1]:].tolist()
    if not generated:
        raise VerificationError(f"The reloaded release in {folder} generated no tokens.")
    # the count only at INFO: generated text is never logged where a run's log is kept (DEBUG shows it)
    logger.info("Verify reload: AutoModelForCausalLM generated %d tokens.", len(generated))
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("Verify reload: generated text %r", tokenizer.decode(generated, skip_special_tokens=False))
    return model, tokenizer, logits, generated


def check_reloaded_tokenizer(reloaded: Any, tokenizer: Any, template: Template, choice: ChatTemplateChoice) -> None:
    """The written tokenizer must be the in-memory one: same vocabulary, ids, EOS and chat template behaviour."""
    if len(reloaded) != len(tokenizer) or reloaded.eos_token != tokenizer.eos_token:
        raise VerificationError(f"The written tokenizer reloads with {len(reloaded)} tokens and EOS {reloaded.eos_token!r}, "
                                f"expected {len(tokenizer)} and {tokenizer.eos_token!r}.")
    texts = [message["content"] for conversation in PROBE_CONVERSATIONS for message in conversation]
    if [reloaded.encode(t, add_special_tokens=False) for t in texts] != [tokenizer.encode(t, add_special_tokens=False) for t in texts]:
        raise VerificationError("The written tokenizer splits text differently after reloading (its class changed?).")
    failures = parity_failures(reloaded, template)
    if failures and not choice.failures:
        raise VerificationError(f"After reloading, apply_chat_template no longer gives the training format: {failures[0]}")
