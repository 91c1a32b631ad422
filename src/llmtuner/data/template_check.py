"""`llmtuner templates check`: does a registered template give the model's own chat template, token for token?

Training encodes conversations with `Template` (template.py), while serving (vLLM, transformers, llama.cpp)
renders them with the model's Jinja chat template. One token of difference, such as another default system
prompt or a missing date header, means the model is tuned on one layout and prompted with another. So before
training a user runs this on the model folder: it renders a fixed set of conversations both ways and shows
the first differing token of each that differs. The parity tests and the export's check
(export/chat_template.py) use the same conversations, so every comparison in the project probes the same cases.
"""

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..extras.errors import ConfigError
from ..hparams.checks import check_template_date
from .template import Message, Template
from .template_registry import get_template

SYSTEM = "你是一名中西医结合科医生，回答需严谨。"
# Medical Chinese with English and numbers; the second user message has surrounding spaces and the last answer
# ends with a newline, so templates that trim content (Llama 3) and ones that do not (ChatML) are both tested.
CONVERSATIONS: dict[str, tuple[Message, ...]] = {
    "single turn": (
        {"role": "user", "content": "黄芪有什么功效？"},
        {"role": "assistant", "content": "黄芪补气升阳，益卫固表，利水消肿。"},
    ),
    "multi-turn": (
        {"role": "user", "content": "最近总是口干多饮，血糖偏高。"},
        {"role": "assistant", "content": "建议查空腹血糖和糖化血红蛋白（HbA1c）。"},
        {"role": "user", "content": " 中医怎么看？ What about metformin? "},
        {"role": "assistant", "content": "中医属消渴范畴；二甲双胍（metformin）是2型糖尿病一线用药。\n"},
    ),
}
CONTEXT_TOKENS = 4
"""Tokens shown before and after the first difference."""


@dataclass(frozen=True)
class Case:
    """One rendering to compare: a conversation, with or without a system message, whole or as a generation prompt."""

    conversation: str
    """A key of CONVERSATIONS."""
    system: str | None
    """The system message; None: none is given (the template's default system prompt applies on both sides)."""
    generation_prompt: bool
    """Everything before the last answer plus the assistant header, instead of the whole conversation."""
    enable_thinking: bool | None = None
    """Qwen3-style thinking switch; None for templates without one (the keyword is then not passed)."""

    @property
    def label(self) -> str:
        parts = [self.conversation, "system" if self.system is not None else "no system"]
        if self.generation_prompt:
            parts.append("generation prompt")
        if self.enable_thinking is not None:
            parts.append("thinking on" if self.enable_thinking else "thinking off")
        return ", ".join(parts)

    @property
    def turns(self) -> list[Message]:
        """The user/assistant messages our template encodes (the last answer left out for a generation prompt)."""
        messages = list(CONVERSATIONS[self.conversation])
        return messages[:-1] if self.generation_prompt else messages

    @property
    def messages(self) -> list[Message]:
        """What `apply_chat_template` gets: the system message first, when there is one."""
        return ([{"role": "system", "content": self.system}] if self.system is not None else []) + self.turns


def cases(template: Template) -> list[Case]:
    """Every case for `template`: thinking on and off only where the template has a thinking switch."""
    thinking_modes: Sequence[bool | None] = (True, False) if template.final_thought else (None,)
    return [Case(name, system, prompt, thinking) for name in CONVERSATIONS for system in (None, SYSTEM)
            for prompt in (False, True) for thinking in thinking_modes]


def our_ids(template: Template, tokenizer: Any, case: Case) -> list[int]:
    """The ids training (whole conversation) or generation (prompt) uses for `case`."""
    thinking = True if case.enable_thinking is None else case.enable_thinking
    if case.generation_prompt:
        return template.encode_prompt(tokenizer, case.turns, system=case.system, enable_thinking=thinking)
    return [i for prompt, response in template.encode_turns(tokenizer, case.turns, system=case.system,
                                                            enable_thinking=thinking) for i in prompt + response]


def reference_ids(tokenizer: Any, case: Case, chat_template: str, date_string: str | None = None) -> list[int]:
    """The ids the model's Jinja chat template gives for `case` (rendered to text, then tokenized, as serving does)."""
    kwargs: dict[str, Any] = {"add_generation_prompt": case.generation_prompt}
    if case.enable_thinking is not None:
        kwargs["enable_thinking"] = case.enable_thinking
    if date_string is not None:  # Llama 3.1-3.3 templates read `date_string`; others ignore unknown variables
        kwargs["date_string"] = date_string
    return list(tokenizer.apply_chat_template(case.messages, chat_template=chat_template, tokenize=True,
                                              return_dict=False, **kwargs))


@dataclass
class CaseResult:
    case: Case
    ours: list[int]
    reference: list[int]
    error: str = ""
    """Why the chat template did not render (a Jinja error); the case then counts as differing."""

    @property
    def matches(self) -> bool:
        return not self.error and self.ours == self.reference

    @property
    def first_difference(self) -> int:
        """Position of the first differing token (the shorter length when one is a prefix of the other)."""
        return next((i for i, (a, b) in enumerate(zip(self.ours, self.reference)) if a != b),
                    min(len(self.ours), len(self.reference)))


def check_template(template: Template, tokenizer: Any, chat_template: str, date_string: str | None = None) -> list[CaseResult]:
    """Compare `template` with `chat_template` on every case. Raises ConfigError when the tokenizer lacks a token
    the template writes (another family's template): nothing could be compared then."""
    template.check_tokenizer(tokenizer)
    results = []
    for case in cases(template):
        ours = our_ids(template, tokenizer, case)
        try:
            reference = reference_ids(tokenizer, case, chat_template, date_string)
        except Exception as error:  # noqa: BLE001 - any Jinja failure (raise_exception, undefined names) is a finding
            results.append(CaseResult(case, ours, [], error=f"{type(error).__name__}: {error}"))
            continue
        results.append(CaseResult(case, ours, reference))
    return results


def _tokens(tokenizer: Any, ids: list[int]) -> str:
    """Each token decoded on its own and quoted, so whitespace and special tokens are visible (no clean-up of
    spaces: the exact text is the point)."""
    return " ".join(repr(tokenizer.decode([i], clean_up_tokenization_spaces=False)) for i in ids) or "(end)"


def describe(result: CaseResult, tokenizer: Any) -> str:
    """"match", or where and how the two renderings part."""
    if result.error:
        return f"  ERROR     {result.case.label}: the chat template does not render: {result.error}"
    if result.matches:
        return f"  match     {result.case.label}"
    at, ours, reference = result.first_difference, result.ours, result.reference
    return "\n".join([
        f"  MISMATCH  {result.case.label}: first difference at token {at} "
        f"(ours {len(ours)} tokens, the model's chat template {len(reference)})",
        f"            before:        {_tokens(tokenizer, ours[max(0, at - CONTEXT_TOKENS):at])}",
        f"            ours:          {_tokens(tokenizer, ours[at:at + CONTEXT_TOKENS])}",
        f"            chat template: {_tokens(tokenizer, reference[at:at + CONTEXT_TOKENS])}",
    ])


# ---- loading what the command compares ---------------------------------------------------------------

def load_tokenizer(folder: str) -> Any:
    """The tokenizer of a local model folder, without running code from it (trust_remote_code stays off)."""
    path = Path(folder)
    if not path.is_dir():
        raise ConfigError(f"--tokenizer {folder}: no such folder. Give the local model folder (the one holding "
                          "tokenizer_config.json); download a hub model first, e.g. `hf download ORG/MODEL --local-dir DIR`.")
    if not any((path / name).is_file() for name in ("tokenizer_config.json", "tokenizer.json")):
        raise ConfigError(f"--tokenizer {folder}: the folder holds no tokenizer_config.json or tokenizer.json. Give "
                          "the model folder itself (where config.json and the tokenizer files are).")
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    except (OSError, ValueError) as error:
        if "trust_remote_code" in str(error):
            raise ConfigError(f"The tokenizer in {folder} needs its own code (auto_map in tokenizer_config.json), and "
                              "templates check runs no code from model folders (trust_remote_code stays off). For "
                              "ChatGLM3, Baichuan2 and InternLM2 the templates are checked against reconstructed "
                              "tokenizers in tests/test_template_parity_sentencepiece.py; `llmtuner preview` shows how "
                              "a template renders your data.") from error
        raise ConfigError(f"Could not load a tokenizer from {folder}: {error}") from error


def load_chat_template(tokenizer: Any, folder: str, chat_template_file: str | None = None) -> tuple[str, str]:
    """(the Jinja chat template, where it came from): --chat_template if given, else the tokenizer folder's own."""
    if chat_template_file:
        path = Path(chat_template_file)
        if not path.is_file():
            raise ConfigError(f"--chat_template {chat_template_file}: no such file. Give the model's Jinja chat template "
                              "(a .jinja file, or a tokenizer_config.json that holds `chat_template`).")
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            try:
                text = json.loads(text).get("chat_template")
            except (ValueError, AttributeError) as error:
                raise ConfigError(f"--chat_template {path}: not a JSON object ({error}).") from error
            if isinstance(text, list):  # named templates: [{"name": "default", "template": ...}, ...]
                text = next((item.get("template") for item in text if item.get("name") == "default"), None)
            if not isinstance(text, str) or not text:
                raise ConfigError(f"--chat_template {path}: it has no `chat_template` string. Give the .jinja file instead.")
        return text, str(path)
    own = tokenizer.chat_template
    if isinstance(own, dict):  # several named templates: the default one is what serving uses
        own = own.get("default")
    if not isinstance(own, str) or not own.strip():
        raise ConfigError(f"{folder} has no chat template: neither chat_template.jinja nor a `chat_template` in "
                          "tokenizer_config.json. Pass the one you will serve with: --chat_template FILE.jinja (a base "
                          "model without one has no format to check against).")
    jinja = Path(folder) / "chat_template.jinja"
    return own, str(jinja if jinja.is_file() else Path(folder) / "tokenizer_config.json")


@dataclass
class CheckReport:
    lines: list[str]
    """The header, then one line ("match") or block (the first difference) per case."""
    summary: str
    ok: bool
    """Every case matched."""


def run_check(template_name: str, tokenizer_dir: str, chat_template_file: str | None = None,
              date_string: str | None = None) -> CheckReport:
    """Load the tokenizer and chat template, compare, and say what to do when they differ."""
    problems: list[str] = []
    check_template_date(template_name, date_string, problems, flag="--date_string")
    if problems:
        raise ConfigError(" ".join(problems))
    template = get_template(template_name, date_string=date_string)
    tokenizer = load_tokenizer(tokenizer_dir)
    chat_template, source = load_chat_template(tokenizer, tokenizer_dir, chat_template_file)
    results = check_template(template, tokenizer, chat_template, date_string)
    lines = [f"template {template_name} vs the chat template in {source} (tokenizer {tokenizer_dir}):"]
    lines += [describe(result, tokenizer) for result in results]
    differing = sum(not result.matches for result in results)
    if not differing:
        return CheckReport(lines, f"all {len(results)} conversations match token for token.", True)
    hint = ("Pick the template of the model's family (`llmtuner templates`), or pass the chat template you will "
            "serve with (--chat_template).")
    if template.has_date and date_string is None:
        hint += (f" Template {template_name} writes the date {template.date_string!r}; a chat template that writes "
                 "today's date (Llama 3.2's strftime_now) needs a fixed one: --date_string \"26 Jul 2024\" here "
                 "and template_date_string for training.")
    return CheckReport(lines, f"{differing} of {len(results)} conversations differ: template {template_name!r} does "
                              f"not render like {source}. {hint}", False)


def check_command(argv: list[str]) -> None:
    """`llmtuner templates check ...`: print the report; raise ConfigError (exit code 2) unless all cases match."""
    parser = argparse.ArgumentParser(
        prog="llmtuner templates check",
        description="Render a fixed set of conversations with a registered template and with the model's own Jinja "
                    "chat template, and compare the token ids (run it on the model folder before training).")
    parser.add_argument("--template", required=True, help="registered template name (see `llmtuner templates`)")
    parser.add_argument("--tokenizer", required=True, help="local model folder with the tokenizer files")
    parser.add_argument("--chat_template", default=None,
                        help="Jinja chat template file to compare with (.jinja, or a tokenizer_config.json); "
                             "default: the tokenizer folder's own")
    parser.add_argument("--date_string", default=None,
                        help="date for templates with a date header (llama3.1/3.2/3.3), as DD Mon YYYY; passed to "
                             "both sides (the chat template gets it as `date_string`)")
    options = parser.parse_args(argv)
    report = run_check(options.template, options.tokenizer, options.chat_template, options.date_string)
    print("\n".join(report.lines))
    if not report.ok:  # the cli prints a UserError as one line on stderr and exits with 2
        raise ConfigError(report.summary)
    print(report.summary)
