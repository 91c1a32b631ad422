"""`llmtuner` command line: parse, dispatch, nothing else.

Heavy libraries are imported inside the commands, so `llmtuner --help` and argument errors
answer in about a second. A `UserError` is printed as a short message without a traceback.
"""

import os
import sys
from collections.abc import Callable

from . import __version__
from .extras.errors import UserError
from .extras.hub_kernels import import_bitsandbytes_offline

USAGE = """usage: llmtuner COMMAND [CONFIG.yaml] [--key value ...]

数智岐黄 finetune: fine-tune LLMs for integrated Chinese-Western medicine.

commands:
  train       train a model (stage pt, sft, dpo, kto, orpo, simpo, rm, grpo) from a YAML/JSON config and/or flags
  preview     show processed samples (masked part marked) and data statistics, without training
  eval        score a model (or a predictions file) on clinical QA, exam questions or held-out text
  export      merge LoRA adapters into the base and write a verified release (safetensors, tokenizer, model card)
  chat        talk to a model (base, adapters or a release) in the terminal, answers streamed
  infer       generate answers for a dataset or a file of prompts into JSONL (batched, resumable)
  api         serve an OpenAI-compatible HTTP API (127.0.0.1 and an API key by default)
  console     the web console for a team: datasets, models, jobs with live logs, dashboard (`console create-user` first)
  templates   list the chat templates; `templates check --template NAME --tokenizer DIR` compares one with the
              model's own chat template token for token (exit code 0 only when they match)
  check-data  find duplicates in training data and evaluation items it contains (contamination); ids, not text
  deidentify  write a copy of a .txt/.json/.jsonl/.csv file with IDs, phones, names, addresses … replaced;
              prints counts per kind, never text
  build-tiny  build the embedded tiny model from data/ (used by tests and the CPU demo)
  version     print the version

`llmtuner COMMAND --help` lists every argument of that command.
"""


def _pop_option(argv: list[str], name: str, default: int) -> int:
    """Remove a command-specific `--name N` from argv (it is not a training argument)."""
    for index, token in enumerate(argv):
        if token == f"--{name}" and index + 1 < len(argv):
            value = argv[index + 1]
            del argv[index : index + 2]
            return int(value)
        if token.startswith(f"--{name}="):
            del argv[index]
            return int(token.split("=", 1)[1])
    return default


def cmd_train(argv: list[str]) -> None:
    from .hparams import parse_train_args

    config = parse_train_args(argv)
    from .data.pipeline import check_data_arguments

    check_data_arguments(config.data, config.finetuning.stage)
    import_bitsandbytes_offline()  # before peft/transformers import it: see extras/hub_kernels.py
    from .extras.distributed import exit_finished_rank
    from .train.tuner import run_training

    run_training(config)
    exit_finished_rank()  # a rank of a multi-process run must not abort in finalization after its work is saved


def cmd_preview(argv: list[str]) -> None:
    from .hparams import parse_train_args

    num_samples = _pop_option(argv, "preview_samples", 3)
    config = parse_train_args(argv, command="preview")
    from .data.pipeline import check_data_arguments, prepare_datasets

    check_data_arguments(config.data, config.finetuning.stage)
    import_bitsandbytes_offline()  # before peft/transformers import it: see extras/hub_kernels.py
    from .data.preview import format_preview
    from .train.preamble import load_tokenizer_and_template

    tokenizer, template = load_tokenizer_and_template(config)  # the same tokenizer fixes as training
    instruction = ""
    if config.finetuning.stage == "grpo":  # its multiple-choice prompts end as in training
        from .train.grpo.rewards import MCQ_FORMAT_INSTRUCTION as instruction
    prepared = prepare_datasets(tokenizer, config.data, config.finetuning.stage, template=template,
                                seed=int(config.training.get("seed", 42)), prompt_instruction=instruction)
    batch_size = int(config.training.get("per_device_train_batch_size", 8))
    print(format_preview(prepared, tokenizer, num_samples, config.data.cutoff_len, batch_size))


def cmd_eval(argv: list[str]) -> None:
    from .hparams import parse_eval_args

    args = parse_eval_args(argv)
    import_bitsandbytes_offline()  # before peft/transformers import it: see extras/hub_kernels.py
    from .eval.evaluator import run_evaluation

    run_evaluation(args)


def cmd_export(argv: list[str]) -> None:
    from .hparams import parse_export_args

    args = parse_export_args(argv)
    import_bitsandbytes_offline()  # before peft/transformers import it: see extras/hub_kernels.py
    from .export import run_export

    run_export(args)


def cmd_chat(argv: list[str]) -> None:
    from .hparams.serve_parser import parse_serve_args

    config = parse_serve_args("chat", argv)
    import_bitsandbytes_offline()  # before peft/transformers import it: see extras/hub_kernels.py
    from .serve.chat import run_chat

    run_chat(config)


def cmd_infer(argv: list[str]) -> None:
    from .hparams.serve_parser import parse_serve_args

    config = parse_serve_args("infer", argv)
    import_bitsandbytes_offline()  # before peft/transformers import it: see extras/hub_kernels.py
    from .serve.infer import run_infer

    run_infer(config)


def cmd_api(argv: list[str]) -> None:
    from .hparams.serve_parser import parse_serve_args

    config = parse_serve_args("api", argv)
    import_bitsandbytes_offline()  # before peft/transformers import it: see extras/hub_kernels.py
    from .serve.api import run_api

    run_api(config)


def cmd_console(argv: list[str]) -> int:
    from .console.cli import main as console_main  # its own subcommands (create-user, openapi) and --help

    return console_main(argv)


def cmd_templates(argv: list[str]) -> None:
    if argv[:1] == ["check"]:
        from .data.template_check import check_command

        check_command(argv[1:])
        return
    if argv:
        usage = ("`llmtuner templates` lists the templates; `llmtuner templates check --template NAME --tokenizer DIR "
                 "[--chat_template FILE.jinja] [--date_string 'DD Mon YYYY']` compares one with a model's chat template.")
        if argv[0] in ("-h", "--help"):
            print(usage)
            return
        raise UserError(f"unknown argument {argv[0]!r}: {usage}")
    from .data.template_registry import TEMPLATES, template_names

    for name in template_names():
        template = TEMPLATES[name]
        alias = f" (alias of {template.name})" if name != template.name else ""
        stops = ", ".join(template.stop_words) or "tokenizer EOS"
        print(f"{name:15s}{template.description}{alias}  [stops on: {stops}]")


def cmd_build_tiny(argv: list[str]) -> None:
    import argparse

    from .extras.constants import DEFAULT_TINY_MODEL_DIR, PROJECT_ROOT
    from .model.tiny import build_tiny_model

    parser = argparse.ArgumentParser(prog="llmtuner build-tiny", description="Build the embedded tiny model from data/.")
    parser.add_argument("--output_dir", default=str(PROJECT_ROOT / DEFAULT_TINY_MODEL_DIR),
                        help="where the model folder is written (default: %(default)s); refused if it exists and is not empty")
    parser.add_argument("--data_dir", default=str(PROJECT_ROOT / "data"),
                        help="the project data whose text the tokenizer is trained on (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output_dir (built aside, then swapped in: a failed build keeps the old one)")
    options = parser.parse_args(argv)
    print(build_tiny_model(options.output_dir, options.data_dir, overwrite=options.overwrite))


def cmd_check_data(argv: list[str]) -> int:
    from .hparams.check_data_parser import format_check_data_help, parse_check_data_args

    if any(token in ("-h", "--help") for token in argv):
        print(format_check_data_help())
        return 0
    args = parse_check_data_args(argv)
    from .data.contamination import check_data

    summary, status = check_data(args)
    print(summary)
    return status


def cmd_deidentify(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="llmtuner deidentify", description=(
        "Write a scrubbed copy of INPUT to OUTPUT (same format): .txt one record per line, .json/.jsonl/.csv every "
        "string. Prints counts per kind of identifier, never text. Rules and measured recall: README, de-identification."))
    parser.add_argument("input", metavar="INPUT", help="the file to scrub (.txt, .json, .jsonl or .csv)")
    parser.add_argument("output", metavar="OUTPUT", help="where the scrubbed copy goes; never INPUT itself")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    parser.add_argument("--consistent", action="store_true",
                        help="the same value gets the same placeholder within a record ([姓名A] … [姓名A], [姓名B])")
    options = parser.parse_args(argv)
    from .data.deidentify.files import scrub_file

    report = scrub_file(options.input, options.output, overwrite=options.overwrite, consistent=options.consistent)
    print(report.format(options.input, options.output))


COMMANDS: dict[str, Callable[[list[str]], int | None]] = {
    "train": cmd_train,
    "preview": cmd_preview,
    "eval": cmd_eval,
    "export": cmd_export,
    "chat": cmd_chat,
    "infer": cmd_infer,
    "api": cmd_api,
    "console": cmd_console,
    "templates": cmd_templates,
    "check-data": cmd_check_data,
    "deidentify": cmd_deidentify,
    "build-tiny": cmd_build_tiny,
    "version": lambda argv: print(__version__),
}


def _help_text(command: str) -> str:
    """`llmtuner COMMAND --help`: every argument of the command, from the dataclasses (no heavy imports)."""
    from . import hparams

    if command == "eval":
        return hparams.format_eval_help()
    if command == "export":
        return hparams.format_export_help()
    if command in SERVE_COMMANDS:
        from .hparams.serve_parser import format_serve_help

        return format_serve_help(command)
    return hparams.format_train_help(command)


SERVE_COMMANDS = ("chat", "infer", "api")
HELP_COMMANDS = ("train", "preview", "eval", "export", *SERVE_COMMANDS)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(argv)
    except BrokenPipeError:  # `llmtuner ... --help | head`: the reader left; nothing to report
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps Python's exit flush from failing again
        return 0


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"llmtuner: unknown command {command!r}. Commands: {', '.join(COMMANDS)}.", file=sys.stderr)
        return 2
    if command in HELP_COMMANDS and any(token in ("-h", "--help") for token in rest):
        print(_help_text(command))
        return 0
    try:
        status = COMMANDS[command](rest)  # a command may return an exit status (check-data --fail_on_contamination)
    except UserError as error:
        print(f"llmtuner {command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: what was written stays (checkpoints, stored answers); no traceback
        print(f"llmtuner {command}: interrupted. What was already saved is kept; run the same command again to "
              "continue where it can resume (train, eval, infer).", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
