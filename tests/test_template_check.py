"""`llmtuner templates check`: match reported for every asset family with a chat template and a registered template,
refusal (non-zero, first differing token shown) for wrong pairings, and one-line errors for what cannot be checked.

Run through `llmtuner.cli.main`, as a user runs it; the tokenizers and Jinja files are the real ones in
../shared/assets (SOURCES.md). Llama 3.1/3.2/3.3 pair the Llama 3 tokenizer with their Jinja files (same
vocabulary and header ids); Qwen2 pairs the Qwen2.5 tokenizer with Qwen2-Instruct's template (quoted in
test_template_parity.py, written to a file here).
"""

from datetime import datetime

import pytest
from conftest import shared_path
from test_template_parity import FIXED_DATE, LLAMA_JINJA, QWEN2_CHAT_TEMPLATE

from llmtuner.cli import main
from llmtuner.data.template_check import CONVERSATIONS


def _assets(*parts: str) -> str:
    return str(shared_path("assets", *parts))


def _jinja(template: str) -> str:
    return _assets("chat_templates", LLAMA_JINJA[template])


def _check(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["templates", "check", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _qwen2_file(tmp_path) -> str:
    path = tmp_path / "qwen2-instruct.jinja"
    path.write_text(QWEN2_CHAT_TEMPLATE, encoding="utf-8")
    return str(path)


# (template, tokenizer folder, chat template file or None for the folder's own, extra flags, cases)
MATCHING = {
    "qwen2.5": ("qwen", "qwen2.5", None, (), 8),
    "qwen3": ("qwen3", "qwen3", None, (), 16),
    "qwen3-30b-a3b-config": ("qwen3", "qwen3", ("qwen3", "variants", "tokenizer_config.qwen3-30b-a3b.json"), (), 16),
    "llama3": ("llama3", "llama3", None, (), 8),
    "llama3.1": ("llama3.1", "llama3", "llama3.1", (), 8),
    "llama3.2-fixed-date": ("llama3.2", "llama3", "llama3.2", ("--date_string", FIXED_DATE), 8),
    "llama3.3": ("llama3.3", "llama3", "llama3.3", (), 8),
    "qwen2": ("qwen2", "qwen2.5", "qwen2", (), 8),
}


def _chat_template_flag(source, tmp_path) -> tuple[str, ...]:
    if source is None:
        return ()
    if source == "qwen2":
        return ("--chat_template", _qwen2_file(tmp_path))
    if isinstance(source, tuple):
        return ("--chat_template", _assets(*source))
    return ("--chat_template", _jinja(source))


@pytest.mark.parametrize("pairing", sorted(MATCHING))
def test_every_asset_family_matches(pairing, capsys, tmp_path):
    template, folder, source, extra, count = MATCHING[pairing]
    code, out, err = _check(capsys, "--template", template, "--tokenizer", _assets(folder),
                            *_chat_template_flag(source, tmp_path), *extra)
    assert code == 0, out + err
    lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(lines) == count and all(line.startswith("  match     ") for line in lines), out
    assert f"all {count} conversations match token for token." in out
    for conversation in CONVERSATIONS:
        assert f"match     {conversation}, system, generation prompt" in out
    if template == "qwen3":
        assert "generation prompt, thinking off" in out and "thinking on" in out


def test_embedded_model_matches_shuzhiqihuang(capsys, tiny_model_dir):
    """The embedded model's chat_template.jinja (transformers 5 writes it beside tokenizer_config.json)."""
    code, out, err = _check(capsys, "--template", "shuzhiqihuang", "--tokenizer", str(tiny_model_dir))
    assert code == 0 and "chat_template.jinja" in out.splitlines()[0] and "all 8 conversations match" in out
    code, out, err = _check(capsys, "--template", "qwen", "--tokenizer", str(tiny_model_dir))  # another system prompt
    assert code == 2 and "4 of 8 conversations differ" in err


def test_qwen2_against_the_qwen25_tokenizer_is_refused(capsys):
    """The Qwen2.5 tokenizer's template has Qwen2.5's default system prompt: every case without a system differs."""
    code, out, err = _check(capsys, "--template", "qwen2", "--tokenizer", _assets("qwen2.5"))
    assert code != 0
    assert out.count("MISMATCH") == 4 and out.count("  match     ") == 4  # the cases with a system message agree
    assert "MISMATCH  single turn, no system: first difference at token 5" in out
    assert "ours:          ' a' ' helpful' ' assistant' '.'" in out
    assert "chat template: ' Q' 'wen' ',' ' created'" in out
    assert "4 of 8 conversations differ: template 'qwen2'" in err and "Traceback" not in err


def test_llama3_against_the_31_jinja_is_refused(capsys):
    code, out, err = _check(capsys, "--template", "llama3", "--tokenizer", _assets("llama3"),
                            "--chat_template", _jinja("llama3.1"))
    assert code != 0 and out.count("MISMATCH") == 8
    # without a system message Llama 3.1 still writes its system turn where Llama 3.0 starts with the user
    assert "MISMATCH  single turn, no system: first difference at token 2" in out
    assert "chat template: 'system' '<|end_header_id|>' '\\n\\n' 'Cut'" in out
    assert "8 of 8 conversations differ" in err and "Traceback" not in err


def test_llama31_against_llama3_own_template_is_refused(capsys):
    code, out, err = _check(capsys, "--template", "llama3.1", "--tokenizer", _assets("llama3"))
    assert code != 0 and "MISMATCH" in out and "match     " not in out
    assert "ours:          'system' '<|end_header_id|>' '\\n\\n' 'Cut'" in out


def test_llama32_without_a_fixed_date_differs_at_the_date(capsys):
    today = datetime.now().strftime("%d %b %Y")
    if today == "26 Jul 2024":
        pytest.skip("today is the template's default date")
    code, out, err = _check(capsys, "--template", "llama3.2", "--tokenizer", _assets("llama3"),
                            "--chat_template", _jinja("llama3.2"))
    assert code != 0
    assert "before:        'Today' ' Date' ':' ' '" in out and "ours:          '26' ' Jul'" in out
    assert "--date_string" in err and "template_date_string" in err  # the fix is named


def test_another_familys_template_is_a_one_line_error(capsys):
    code, out, err = _check(capsys, "--template", "qwen", "--tokenizer", _assets("llama3"))
    assert code == 2 and "does not match the model" in err and "'<|im_start|>'" in err and "Traceback" not in err


def test_missing_tokenizer_folder_names_the_path(capsys, tmp_path):
    missing = tmp_path / "no-such-model"
    code, out, err = _check(capsys, "--template", "qwen", "--tokenizer", str(missing))
    assert code == 2 and f"--tokenizer {missing}: no such folder" in err and "local model folder" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = _check(capsys, "--template", "qwen", "--tokenizer", str(empty))
    assert code == 2 and f"{empty}: the folder holds no tokenizer_config.json or tokenizer.json" in err


def test_folder_without_a_chat_template_says_how_to_give_one(capsys, tmp_path):
    code, out, err = _check(capsys, "--template", "yi", "--tokenizer", _assets("yi"))  # the base config: no template
    assert code == 2 and f"{_assets('yi')} has no chat template" in err and "--chat_template FILE.jinja" in err
    missing = tmp_path / "missing.jinja"
    code, out, err = _check(capsys, "--template", "qwen", "--tokenizer", _assets("qwen2.5"), "--chat_template", str(missing))
    assert code == 2 and f"--chat_template {missing}: no such file" in err


def test_tokenizer_with_its_own_code_is_not_run(capsys):
    """internlm2 has a chat template and a registered template, but its tokenizer is remote code: refused, not run."""
    code, out, err = _check(capsys, "--template", "intern2", "--tokenizer", _assets("internlm2"))
    assert code == 2 and "needs its own code" in err and "test_template_parity_sentencepiece.py" in err


@pytest.mark.parametrize("template,date,message", [
    ("llama3", FIXED_DATE, "--date_string is set, but template 'llama3' shows no date"),
    ("llama3.1", "2025-03-01", "--date_string '2025-03-01' is not a date as Llama 3.1's chat template writes it"),
    ("llama3.1", "1 Mar 2025", "use DD Mon YYYY"),
])
def test_bad_date_string_is_refused_before_loading(capsys, template, date, message):
    code, out, err = _check(capsys, "--template", template, "--tokenizer", "/nonexistent", "--date_string", date)
    assert code == 2 and message in err and "no such folder" not in err


def test_templates_without_subcommand_still_lists(capsys):
    assert main(["templates"]) == 0
    out = capsys.readouterr().out
    assert "llama3.1" in out and "llama3.2       " in out and "(alias of llama3.1)" in out
    assert "qwen2          Qwen2 instruct" in out and "qwen2.5        " in out and "(alias of qwen)" in out
    assert main(["templates", "chek"]) == 2 and "unknown argument 'chek'" in capsys.readouterr().err


def test_template_date_string_reaches_training_and_is_validated(tmp_path):
    from llmtuner.extras.errors import ConfigError
    from llmtuner.hparams import parse_eval_args, parse_train_args
    from llmtuner.train.preamble import load_tokenizer_and_template

    base = {"model_name_or_path": _assets("llama3"), "stage": "sft", "dataset": "medical_sft_sample",
            "output_dir": str(tmp_path / "out")}
    config = parse_train_args(config={**base, "template": "llama3.2", "template_date_string": FIXED_DATE})
    tokenizer, template = load_tokenizer_and_template(config)  # what training and preview encode with
    assert template.date_string == FIXED_DATE
    assert f"Today Date: {FIXED_DATE}\n\n" in tokenizer.decode(template.encode_prompt(tokenizer, [{"role": "user", "content": "hi"}]))
    with pytest.raises(ConfigError, match="template_date_string is set, but template 'qwen' shows no date"):
        parse_train_args(config={**base, "template": "qwen", "template_date_string": FIXED_DATE})
    with pytest.raises(ConfigError, match="template_date_string 'March 1, 2025' is not a date"):
        parse_train_args(config={**base, "template": "llama3.1", "template_date_string": "March 1, 2025"})
    # eval renders its prompts with the same date
    from llmtuner.eval.tokenizer import load_tokenizer_and_template as eval_tokenizer_and_template

    eval_config = parse_eval_args(["--model_name_or_path", _assets("llama3"), "--template", "llama3.2", "--eval_dataset",
                                   "clinical_qa_dev", "--output_dir", str(tmp_path / "eval"), "--template_date_string", FIXED_DATE])
    _, eval_template = eval_tokenizer_and_template(eval_config)
    assert eval_template.date_string == FIXED_DATE
