"""`llmtuner export`: plan, merge, cast, write, verify, describe, publish — in that order, all or nothing."""

import gc
import shutil
from pathlib import Path
from typing import Any

from .. import __version__
from ..data.template import Template
from ..extras.files import write_json
from ..extras.logging import get_logger
from ..extras.run_lock import run_lock
from ..hparams import ExportConfig
from .card import render_card
from .merge import MergeStep, cast, load_base, merge_adapters
from .preflight import ExportPlan, plan_export
from .provenance import read_training_facts
from .publish import INFO_NAME, disk_full_error, make_staging, publish, remove_stale_staging
from .quantize import write_quantized
from .tokenizer import ChatTemplateChoice, load_release_tokenizer, save_release_tokenizer, set_chat_template
from .verify import (
    VerificationError,
    check,
    check_reloaded_tokenizer,
    compute_logits,
    max_abs_diff,
    probe_inputs,
    reload_and_generate,
)

logger = get_logger(__name__)



def set_generation_config(model: Any, tokenizer: Any, template: Template) -> list[int]:
    """Generation stops on every stop word of the template (plus EOS), as training's evaluation did; returns the ids."""
    config = model.generation_config
    stops = template.stop_token_ids(tokenizer)
    existing = config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]
    config.eos_token_id = stops + [i for i in existing if i is not None and i not in stops]
    config.pad_token_id = tokenizer.pad_token_id
    return list(config.eos_token_id)


def _info(plan: ExportPlan, args: ExportConfig, steps: list[MergeStep], verification: dict[str, Any],
          choice: ChatTemplateChoice, stop_ids: list[int]) -> dict[str, Any]:
    """export_info.json: the same facts as the card, for programs."""
    return {
        "llmtuner_version": __version__, "base_model": plan.base_source,
        "adapters": [{"path": s.adapter, "type": s.kind, "logit_effect": s.effect, "merge_check": s.check} for s in steps],
        "qlora_trained": plan.qlora, "template": plan.template.name, "chat_template": choice.origin,
        "chat_template_mismatches": choice.failures, "generation_eos_token_id": stop_ids,
        "merge_dtype": plan.merge_dtype, "export_dtype": plan.export_dtype,
        "export_quantization_bit": args.export.export_quantization_bit, "datasets": plan.datasets,
        "verification": verification,
    }


def _write_weights(model: Any, staging: Path, plan: ExportPlan, args: ExportConfig) -> None:
    """Sharded safetensors in the release dtype, or, quantised, via a merged copy in a hidden sibling folder."""
    shard_bytes = max(1, int(args.export.export_size * 1e9))
    bits = args.export.export_quantization_bit
    if not bits:
        model.save_pretrained(str(staging), max_shard_size=shard_bytes)
        return
    scratch = make_staging(plan.export_dir, "merged")
    try:
        model.save_pretrained(str(scratch), max_shard_size=shard_bytes)
        write_quantized(scratch, staging, bits, args.model, plan.export_dtype, shard_bytes)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _verify_release(staging: Path, inputs: list[list[int]], expected: list[Any], plan: ExportPlan, args: ExportConfig,
                    tokenizer: Any, choice: ChatTemplateChoice) -> dict[str, Any]:
    """Reload the written folder on its own: same logits (or, quantised, finite ones), generation, same tokenizer."""
    bits = args.export.export_quantization_bit
    reloaded, reloaded_tokenizer, logits, _ = reload_and_generate(staging, inputs, args.model.trust_remote_code)
    del reloaded
    diff = max_abs_diff(expected, logits)
    check_reloaded_tokenizer(reloaded_tokenizer, tokenizer, plan.template, choice)
    if not bits:
        what = "reloaded release vs in-memory merged model"
        return {what: check(what, diff, expected, plan.export_dtype, args.export.verify_tolerance)}
    # quantisation is lossy by design: the difference is reported, only inf/NaN fails
    logger.info("Verify %d-bit release vs merged %s: max |logit diff| = %.3g.", bits, plan.export_dtype, diff)
    if diff == float("inf"):
        raise VerificationError(f"The {bits}-bit release produces inf/NaN logits. Nothing was written to export_dir.")
    return {f"{bits}-bit release vs merged {plan.export_dtype}": {"max_abs_diff": diff}}


def run_export(args: ExportConfig) -> Path:
    """Merge, write and verify a release; returns export_dir. Raises before publishing anything on any failure.

    export_dir is locked first, before anything loads (a lock file beside it: the folder itself is replaced
    whole when the release is published); a second export into it is refused."""
    with run_lock(args.export.export_dir or "", "export", key="export_dir", beside=True):
        return _export(args)


def _export(args: ExportConfig) -> Path:
    export = args.export
    plan = plan_export(args)
    remove_stale_staging(plan.export_dir)  # under the lock: no other export can own them
    tokenizer = load_release_tokenizer(args.model, plan.tokenizer_dir, plan.template)
    choice = set_chat_template(tokenizer, plan.template)
    inputs = None if export.skip_verify else probe_inputs(tokenizer, plan.template)
    staging = make_staging(plan.export_dir)
    needed: int | None = None
    try:
        model = load_base(plan, args.model, tokenizer)
        model, steps, reference = merge_adapters(model, plan, inputs, export.verify_tolerance)
        model = cast(model, plan.export_dtype)
        verification: dict[str, Any] = {"skipped": True} if inputs is None else {}
        expected = compute_logits(model, inputs) if inputs is not None else None
        if expected is not None and reference is not None and plan.export_dtype != plan.merge_dtype:
            what = f"{plan.export_dtype} release vs {plan.merge_dtype} base + adapters"
            verification[what] = check(what, max_abs_diff(reference, expected), reference, plan.export_dtype,
                                       export.verify_tolerance)
        stop_ids = set_generation_config(model, tokenizer, plan.template)
        vocab_rows = int(model.get_input_embeddings().weight.shape[0])
        needed = sum(param.numel() * param.element_size() for param in model.parameters())  # for a full-disk message
        _write_weights(model, staging, plan, args)
        del model  # the reload below needs the memory
        gc.collect()
        save_release_tokenizer(tokenizer, staging, plan.base_path)
        if inputs is not None and expected is not None:
            verification.update(_verify_release(staging, inputs, expected, plan, args, tokenizer, choice))
        facts = read_training_facts(plan.facts_dir)
        card = render_card(plan, args, facts, steps, verification, choice.origin, vocab_rows)
        (staging / "README.md").write_text(card, encoding="utf-8")
        info = _info(plan, args, steps, verification, choice, stop_ids)
        write_json(staging / INFO_NAME, info)
        publish(staging, plan.export_dir, export.overwrite)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        full = disk_full_error(error, plan.export_dir, needed)
        if full is not None:
            raise full from error
        raise
    logger.info("Release written to %s (%s%s).", plan.export_dir, plan.export_dtype,
                f", {export.export_quantization_bit}-bit" if export.export_quantization_bit else "")
    return plan.export_dir
