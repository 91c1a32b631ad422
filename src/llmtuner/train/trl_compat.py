"""Everything this project knows about TRL, in one module: where its trainers live and the few internals we adapt.

Pinned to `trl>=1.16,<2` (requirements.txt). DPO, KTO and the reward trainer are TRL's stable API (`trl`); ORPO and
CPO (which SimPO is a loss of) are `trl.experimental` in 1.16 and may move in any release: when one does, the import
below is the only line to change. The adaptations, each for a documented TRL 1.16 behaviour:

1. Our template renders prompts and answers (token for token as SFT, data.preference), but DPOTrainer and
   KTOTrainer always tokenise in `_prepare_dataset` with the tokenizer's own chat template (its comment says the step
   skips tokenised data; in 1.16 it does not), and ORPO/CPO tokenise text in `tokenize_row`. The mixins below hand
   them our ids instead: `prompt_ids` / `chosen_ids` / `rejected_ids` (and KTO's `completion_ids` / `label`) are the
   columns their collators read. The reward trainer accepts tokenised pairs as they are.
2. Given a PEFT model and no reference, DPO/KTO copy the adapter into a frozen "ref" adapter. For an adapter this run
   creates (zero-initialised LoRA B) that copy is the base model exactly, so it is deleted and the reference is the
   model with its adapters disabled (TRL's own fallback), at no cost. An adapter resumed from adapter_name_or_path
   keeps its copy: the reference is then where that adapter started. Only the trained "default" adapter is saved.
3. GRPOTrainer renders each prompt itself (`_tokenize_prompts`: the tokenizer's chat template for messages, plain
   tokenisation for text). `TokenizedPrompts` hands it the ids our template rendered (the `prompt_ids` column,
   data.prompts) for HF generate and vLLM alike; the `prompt` column stays text, for the reward functions. With a
   PEFT model and beta > 0 its reference is the model with the adapter disabled (TRL's own), with beta 0 none.
"""

import functools
import importlib.metadata
import os
from typing import Any

from ..extras.errors import ConfigError

TRL_REQUIREMENT = ">=1.16,<2"


def check_trl() -> None:
    """A missing or other-major TRL fails with the install command, before any weights load."""
    from packaging.specifiers import SpecifierSet

    try:
        version = importlib.metadata.version("trl")
    except importlib.metadata.PackageNotFoundError:
        version = None
    if version is None or version not in SpecifierSet(TRL_REQUIREMENT):
        found = f"trl {version} is installed" if version else "trl is not installed"
        raise ConfigError(f"The preference stages need trl{TRL_REQUIREMENT}, but {found}: "
                          f"`pip install 'trl{TRL_REQUIREMENT}'` (requirements.txt pins it).")


def dpo_classes() -> tuple[type, type]:
    from trl import DPOConfig, DPOTrainer

    return DPOConfig, DPOTrainer


def kto_classes() -> tuple[type, type]:
    from trl import KTOConfig, KTOTrainer

    return KTOConfig, KTOTrainer


def reward_classes() -> tuple[type, type]:
    from trl import RewardConfig, RewardTrainer

    return RewardConfig, RewardTrainer


def grpo_classes() -> tuple[type, type]:
    from trl import GRPOConfig, GRPOTrainer

    return GRPOConfig, GRPOTrainer


def _experimental() -> None:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # the notice is this module's docstring


def orpo_classes() -> tuple[type, type]:
    _experimental()
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return ORPOConfig, ORPOTrainer


def cpo_classes() -> tuple[type, type]:
    """CPO, whose loss_type "simpo" with cpo_alpha 0 is SimPO."""
    _experimental()
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    return CPOConfig, CPOTrainer


# ---- 1. our token ids instead of TRL's tokenisation -------------------------------------------------------------
class TokenizedPairs:
    """DPOTrainer: the dataset already holds prompt_ids / chosen_ids / rejected_ids (data.preference)."""

    def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
        if {"prompt_ids", "chosen_ids", "rejected_ids"} <= set(dataset.column_names or ()):
            return dataset
        return super()._prepare_dataset(dataset, processing_class, args, dataset_name)  # type: ignore[misc]


class TokenizedUnpaired:
    """KTOTrainer: prompt_ids / completion_ids / label are there; only the KL completions are added, as TRL does
    (each row's answer rotated by one within a batch of per_device_train_batch_size, rows read in order)."""

    def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
        if not {"prompt_ids", "completion_ids", "label"} <= set(dataset.column_names or ()):
            return super()._prepare_dataset(dataset, processing_class, args, dataset_name)  # type: ignore[misc]
        if not self.calculate_KL:  # type: ignore[attr-defined]
            return dataset

        def rotate(batch: dict[str, list]) -> dict[str, list]:
            batch["KL_completion_ids"] = [batch["completion_ids"][-1], *batch["completion_ids"][:-1]]
            return batch

        return dataset.map(rotate, batched=True, batch_size=args.per_device_train_batch_size,
                           desc=f"KL completions ({dataset_name})")


class TokenizedOldStylePairs:
    """ORPOTrainer / CPOTrainer (trl.experimental): `tokenize_row` builds their prompt_/chosen_/rejected_
    input_ids, attention_mask and labels (-100 over the prompt) from our ids instead of tokenising text."""

    def tokenize_row(self, feature: dict[str, Any], model: Any = None) -> dict[str, Any]:
        if "prompt_ids" not in feature:
            return super().tokenize_row(feature, model)  # type: ignore[misc]
        prompt = list(feature["prompt_ids"])
        batch: dict[str, Any] = {"prompt_input_ids": prompt, "prompt_attention_mask": [1] * len(prompt)}
        for role in ("chosen", "rejected"):
            answer = list(feature[f"{role}_ids"])
            batch[f"{role}_input_ids"] = prompt + answer
            batch[f"{role}_attention_mask"] = [1] * (len(prompt) + len(answer))
            batch[f"{role}_labels"] = [-100] * len(prompt) + answer
        return batch


class TokenizedPrompts:
    """GRPOTrainer: generate from the `prompt_ids` column (our template's rendering) instead of re-tokenising the
    `prompt` text. The generation batch's rows are remembered in order, each prompt repeated per completion as TRL's
    sampler repeats it, and `_tokenize_prompts` returns their ids."""

    _our_prompt_ids: list[list[int]] | None = None

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        self._our_prompt_ids = [list(row["prompt_ids"]) for row in inputs] if inputs and "prompt_ids" in inputs[0] else None
        try:
            return super()._generate_and_score_completions(inputs)  # type: ignore[misc]
        finally:
            self._our_prompt_ids = None

    def _tokenize_prompts(self, prompts: list) -> tuple[list[list[int]], Any, dict]:
        ids = self._our_prompt_ids
        if ids is None or len(ids) != len(prompts):
            return super()._tokenize_prompts(prompts)  # type: ignore[misc]
        return [list(row) for row in ids], None, {}


# ---- 2. the reference of a LoRA run ------------------------------------------------------------------------------
def settle_reference_adapter(model: Any, adapter_is_new: bool) -> None:
    """After DPO/KTO's __init__: drop the "ref" copy of an adapter this run created (the reference is then the
    base with adapters disabled); keep it for a resumed adapter."""
    config = getattr(model, "peft_config", None)
    if adapter_is_new and config and "ref" in config:
        model.delete_adapter("ref")
        model.set_adapter("default")


class SaveTrainedAdapterOnly:
    """Mixin (first in the bases): a kept "ref" adapter is not written into the saved model or checkpoints."""

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        model = self.model  # type: ignore[attr-defined]
        if "ref" not in (getattr(model, "peft_config", None) or {}):
            return super()._save(output_dir, state_dict)  # type: ignore[misc]
        model.save_pretrained = functools.partial(type(model).save_pretrained, model, selected_adapters=["default"])
        try:
            return super()._save(output_dir, state_dict)  # type: ignore[misc]
        finally:
            del model.save_pretrained
