"""The data path of the online stage (grpo): registry -> load -> prompts -> our template -> prompt ids.

GRPO samples its answers during training, so a dataset gives prompts only, plus the columns its rewards read:

- alpaca (instruction / input, optional history and system) or sharegpt (a conversation ending with the user's
  turn, or with an answer that becomes the `reference`); an alpaca `output` column is the `reference` too;
- the project's exam format (`formatting: mcq`: question, options {"A": ...}, answer letters), as the evaluator
  reads it: the prompt is the question, its "A. text" lines and the caller's answer instruction
  (`MCQ_FORMAT_INSTRUCTION` of train/grpo/rewards.py), the `answer` and `options` columns stay for the rewards.
  An alpaca row with an `options` column is rendered the same way.

Each row becomes `prompt` (the user's last message, text: what the reward functions read), `prompt_ids` (the
generation prompt rendered by our template exactly as `Template.encode_prompt` renders it for inference and
evaluation: TRL generates from these ids and never applies a chat template), `question`, and the extra columns
`answer`, `options`, `reference` where the data has them. A prompt longer than cutoff_len keeps its last
cutoff_len tokens (the question's end and the assistant header). Bad rows (no question) stop the run with one
DataError naming the dataset, the sample indices and the field; no sample text is logged or echoed.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..extras.errors import DataError
from ..extras.logging import get_logger
from ..hparams import DataArguments
from .align import convert_alpaca, convert_sharegpt
from .loader import _subsample, check_format_guess, load_raw, mix
from .registry import DatasetAttr, get_dataset_attrs
from .template import Template

logger = get_logger(__name__)

PROMPT_FORMATS = ("alpaca", "sharegpt", "mcq")
EXTRA_COLUMNS = ("answer", "options", "reference")
"""Dataset columns passed through to the reward functions (besides `question`)."""
SHOWN = 5


@dataclass
class PromptData:
    """What prepare_prompts returns (a PreparedData for the online stage): prompt datasets and their lengths."""

    stage: str = "grpo"
    train: Any = None
    eval: Any = None
    predict: Any = None
    stats: dict[str, Any] = field(default_factory=dict)


def prompt_attrs(names: list[str] | None, data_args: DataArguments) -> list[DatasetAttr]:
    return get_dataset_attrs(names, data_args.dataset_dir, formats=PROMPT_FORMATS)


def _source(attr: DatasetAttr, role: str) -> str:
    """The file's column for a role (the registry's `columns` mapping, else the role's own name)."""
    if attr.formatting == "mcq":
        return str(attr.columns.get(role, role))
    return str(attr.columns.get(role) or attr.column(role) or role)


def prompt_columns(attr: DatasetAttr, column_names: Sequence[str]) -> set[str]:
    """The columns a reward function will see for this dataset (question always; answer/options/reference when
    the file has them, or a response column for reference)."""
    found = {"question"}
    for role in EXTRA_COLUMNS:
        if _source(attr, role) in column_names:
            found.add(role)
    response = attr.column("response") if attr.formatting == "alpaca" else None
    if response and response in column_names:
        found.add("reference")
    if attr.formatting == "sharegpt":
        found.add("reference")  # the conversation's final answer, where it has one (None elsewhere)
    return found


def dataset_columns(data_args: DataArguments) -> dict[str, set[str]]:
    """{dataset name: the columns its rewards will see}, from the files' column names (no tokenizer needed)."""
    found: dict[str, set[str]] = {}
    for attr in prompt_attrs(data_args.dataset, data_args):
        dataset = load_raw(attr, data_args)
        found[attr.name] = prompt_columns(attr, dataset.column_names or [])
    return found


def format_options(options: Any) -> list[str]:
    if not isinstance(options, dict):
        return []
    return [f"{str(key).strip().upper()}. {text}" for key, text in sorted(options.items()) if text not in (None, "")]


def _messages(row: dict[str, Any], attr: DatasetAttr, index: int) -> tuple[list[dict[str, str]], str | None, str | None]:
    """(messages ending with the user's turn, system, the reference answer or None)."""
    if attr.formatting == "mcq":
        question = row.get(_source(attr, "question"))
        return [{"role": "user", "content": "" if question is None else str(question)}], None, None
    messages, system = (convert_alpaca if attr.formatting == "alpaca" else convert_sharegpt)(row, attr, index)
    reference = None
    if messages and messages[-1]["role"] == "assistant":
        reference = messages.pop()["content"]
    return messages, system, reference


def render_row(row: dict[str, Any], index: int, attr: DatasetAttr, tokenizer: Any, template: Template, instruction: str,
               cutoff_len: int, enable_thinking: bool, default_system: str | None) -> dict[str, Any]:
    """datasets.map function (one row): see the module docstring. `_problem` names a bad field, else ""."""
    messages, system, reference = _messages(row, attr, index)
    out: dict[str, Any] = {"_problem": "", "_truncated": False, "prompt": "", "prompt_ids": [], "question": ""}
    for role in ("answer", "options"):
        if _source(attr, role) in row:
            out[role] = row[_source(attr, role)]
    own_reference = row.get(_source(attr, "reference")) if _source(attr, "reference") in row else None
    if own_reference is not None or reference is not None or "reference" in prompt_columns(attr, list(row)):
        out["reference"] = own_reference if own_reference is not None else reference
    question = messages[-1]["content"].strip() if messages and messages[-1]["role"] == "user" else ""
    if not question:
        out["_problem"] = _source(attr, "question") if attr.formatting == "mcq" else "the last user turn"
        return out
    options = row.get(_source(attr, "options"))
    lines = format_options(options)
    user = "\n".join([question, *lines, instruction]) if lines else question
    messages = [*messages[:-1], {"role": "user", "content": user}]
    ids = template.encode_prompt(tokenizer, messages, system=system if system is not None else default_system,
                                 enable_thinking=enable_thinking)
    if len(ids) > cutoff_len:
        ids, out["_truncated"] = ids[-cutoff_len:], True
    out.update(prompt=user, prompt_ids=ids, question=question)
    return out


def load_prompts(attr: DatasetAttr, data_args: DataArguments, tokenizer: Any, template: Template, instruction: str,
                 seed: int, cache_dir: str | None) -> Any:
    check_format_guess(attr, data_args.strict_data)
    dataset = load_raw(attr, data_args, cache_dir)
    dataset = _subsample(dataset, attr, data_args, seed)
    dataset = dataset.map(
        render_row, with_indices=True, remove_columns=dataset.column_names,
        fn_kwargs={"attr": attr, "tokenizer": tokenizer, "template": template, "instruction": instruction,
                   "cutoff_len": data_args.cutoff_len, "enable_thinking": data_args.enable_thinking,
                   "default_system": data_args.default_system},
        num_proc=data_args.preprocessing_num_workers, load_from_cache_file=not data_args.overwrite_cache,
        desc=f"Rendering prompts of {attr.name} (grpo)")
    problems = dataset.data.column("_problem").to_pylist()
    bad = [index for index, problem in enumerate(problems) if problem]
    if bad:
        shown = ", ".join(map(str, bad[:SHOWN])) + (", ..." if len(bad) > SHOWN else "")
        raise DataError(f"Dataset {attr.name!r} ({attr.path}): {len(bad)} of {len(problems)} prompts have no question "
                        f"(field {problems[bad[0]]!r} empty; sample{'s' if len(bad) > 1 else ''} {shown}, counted from 0 in "
                        "file order). Write the question there, or remove those samples.")
    truncated = sum(dataset.data.column("_truncated").to_pylist())
    if truncated:
        logger.warning("Dataset %r: %d of %d prompts were longer than cutoff_len=%d and keep their last tokens.",
                       attr.name, truncated, len(problems), data_args.cutoff_len)
    return dataset.remove_columns(["_problem", "_truncated"])


def prepare_prompts(tokenizer: Any, data_args: DataArguments, template: Template | None, instruction: str, seed: int = 42,
                    cache_dir: str | None = None) -> PromptData:
    """Prompt datasets for grpo (train, and eval when eval_dataset is set); counts only are logged."""
    if template is None:
        raise ValueError("prepare_prompts needs the chat template the tokenizer was fixed for.")
    from .preference import split_off_eval

    splits: dict[str, Any] = {}
    for split, names in (("train", data_args.dataset), ("eval", data_args.eval_dataset)):
        attrs = prompt_attrs(names, data_args)
        if attrs:
            parts = [load_prompts(attr, data_args, tokenizer, template, instruction, seed, cache_dir) for attr in attrs]
            splits[split] = mix(parts, data_args, seed) if len(parts) > 1 else parts[0]
    prepared = PromptData()
    for split, dataset in split_off_eval(splits, data_args, seed).items():
        lengths = [len(ids) for ids in dataset["prompt_ids"]]
        prepared.stats[split] = {"samples": len(lengths), "max_prompt_tokens": max(lengths, default=0)}
        logger.info("%s: %d GRPO prompts, prompt tokens max %d", split, len(lengths), max(lengths, default=0))
        setattr(prepared, split, dataset)
    return prepared
