"""scripts/expand_vocab.py: domain tokens are added, shorten the corpus, round-trip exactly; bad input says why."""

import importlib.util
import json
import random
from pathlib import Path

import pytest
from conftest import ROOT, shared_path

HERBS = ["黄芪", "当归", "白术", "茯苓", "甘草", "党参", "川芎", "熟地黄", "白芍", "柴胡", "半夏", "陈皮", "阿胶",
         "龟板胶", "鹿角霜", "蒺藜", "桑螵蛸", "覆盆子"]
FORMULAS = ["防风通圣散", "加味逍遥散", "桂枝茯苓丸", "黄连阿胶汤", "龟鹿二仙胶", "金锁固精丸", "缩泉丸", "补中益气汤",
            "血府逐瘀汤", "天王补心丹"]
SYMPTOMS = ["气短乏力", "食少便溏", "头晕目眩", "心悸失眠", "胸胁胀痛", "腰膝酸软", "畏寒肢冷", "遗精滑泄"]
SYNDROMES = ["脾气虚证", "肝郁血虚证", "心肾不交证", "肾阳虚证", "瘀血内阻证"]
TEMPLATES = [
    "患者{sym}，舌淡苔白，脉细弱，辨证为{syn}，治以{formula}加减，方中{h1}{d1}g、{h2}{d2}g。",
    "{formula}主治{sym}，常用{h1}配伍{h2}，每日{d1}剂，水煎服。",
    "复诊：{sym}减轻，守{formula}方去{h1}，加{h2}{d2}g，再服{d1}剂。",
    "按：本案属{syn}，{h1}与{h2}相须为用，{formula}标本兼顾。",
    "Patient {d1}: {sym}，BP 1{d2}/8{d1} mmHg，予{formula} 1{d2}0 mg tid。",
]


def make_corpus(n: int = 300, seed: int = 0) -> list[str]:
    """Template sentences about herbs and formulas (the test's own text, no real records)."""
    rng = random.Random(seed)
    return [
        rng.choice(TEMPLATES).format(
            sym=rng.choice(SYMPTOMS), syn=rng.choice(SYNDROMES), formula=rng.choice(FORMULAS),
            h1=rng.choice(HERBS), h2=rng.choice(HERBS), d1=rng.randint(3, 30), d2=rng.randint(3, 30),
        )
        for _ in range(n)
    ]


def load_script():
    spec = importlib.util.spec_from_file_location("expand_vocab", ROOT / "scripts" / "expand_vocab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return load_script()


@pytest.fixture()
def inputs(tmp_path: Path) -> dict[str, Path]:
    lines = make_corpus()
    (tmp_path / "corpus.txt").write_text("\n".join(lines[:200]) + "\n", encoding="utf-8")
    records = [{"instruction": a, "input": "", "output": b, "source": "test"}
               for a, b in zip(lines[200::2], lines[201::2])]
    (tmp_path / "sft.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    terms = ["# herbs and formulas (test list)", *(f"{h}\therb" for h in HERBS), "",
             *(f"{f}\tformula" for f in FORMULAS)]
    (tmp_path / "terms.txt").write_text("\n".join(terms) + "\n", encoding="utf-8")
    return {"corpus": tmp_path / "corpus.txt", "sft": tmp_path / "sft.json", "terms": tmp_path / "terms.txt",
            "out": tmp_path / "expanded", "lines": lines}


def run(script, base: Path, inputs: dict, *extra: str) -> int:
    return script.main([
        "--base_tokenizer", str(base), "--corpus", f"{inputs['corpus']},{inputs['sft']}",
        "--terms", str(inputs["terms"]),
        "--vocab_size", "600", "--min_frequency", "3", "--output_dir", str(inputs["out"]), *extra,
    ])


def check_expanded(base_dir: Path, inputs: dict, extra_text: list[str]) -> dict:
    """The properties every expansion must have; returns the report."""
    from transformers import AutoTokenizer

    report = json.loads((inputs["out"] / "expand_vocab_report.json").read_text(encoding="utf-8"))
    base = AutoTokenizer.from_pretrained(str(base_dir))
    expanded = AutoTokenizer.from_pretrained(str(inputs["out"]))
    assert report["base_vocab_size"] == len(base)
    assert report["new_tokens_added"] > 0
    assert report["new_vocab_size"] == len(expanded) == len(base) + report["new_tokens_added"]
    assert report["chars_per_token_after"] > report["chars_per_token_before"]
    assert report["tokens_after"] < report["tokens_before"]
    assert report["sample_added_tokens"]
    assert all({"token", "uses", "tokens_saved"} <= set(t) for t in report["sample_added_tokens"])
    terms = HERBS + FORMULAS
    split = [t for t in terms if len(base(t, add_special_tokens=False)["input_ids"]) > 1]
    assert split, "the test terms must include some the base tokenizer splits"
    assert all(len(expanded(t, add_special_tokens=False)["input_ids"]) == 1 for t in split)
    # a term already single stays so, unless another added term cuts it (reported, see vocab_expansion.expand_tokenizer)
    cut = set(report["single_terms_split_by_added_terms"])
    assert all(len(expanded(t, add_special_tokens=False)["input_ids"]) == 1 for t in terms if t not in cut)
    assert report["added_from_terms"] == len(split)
    for line in inputs["lines"] + extra_text:
        ids = expanded(line, add_special_tokens=False)["input_ids"]
        assert expanded.decode(ids) == line
    added = {t for t, i in expanded.get_vocab().items() if i >= len(base)}
    assert not any(ch.isspace() for t in added for ch in t)  # no whitespace pieces
    assert report["round_trip_exact_lines_after"] == report["round_trip_exact_lines_before"] == report["measured_lines"]
    return report


def test_expands_the_tiny_tokenizer(script, tiny_model_dir, inputs, capsys):
    assert run(script, tiny_model_dir, inputs, "--copy_model") == 0
    printed = capsys.readouterr().out
    assert "chars per token" in printed and "vocab size" in printed
    report = check_expanded(tiny_model_dir, inputs, ["黄芪 10 g，English words & 数字 2024-01-02。"])
    assert report["added_from_corpus_pieces"] > 0
    # the folder keeps the tiny model's tokenizer pinning and is a loadable model folder (--copy_model)
    from transformers import AutoTokenizer

    for trust in (False, True):
        tokenizer = AutoTokenizer.from_pretrained(str(inputs["out"]), trust_remote_code=trust)
        assert len(tokenizer) == report["new_vocab_size"]
    assert (inputs["out"] / "model.safetensors").is_file() and (inputs["out"] / "config.json").is_file()
    assert not list(inputs["out"].parent.glob(".expanded.tmp-*"))  # the temporary folder was renamed away
    # an existing output folder is kept unless --overwrite
    assert run(script, tiny_model_dir, inputs) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_expands_a_byte_level_tokenizer(script, inputs):
    qwen = shared_path("assets", "qwen2.5")
    assert run(script, qwen, inputs, "--term_types", "formula") == 0
    report = json.loads((inputs["out"] / "expand_vocab_report.json").read_text(encoding="utf-8"))
    assert report["term_types"] == ["formula"] and report["terms_given"] == len(FORMULAS)
    mixed = ["服用桂枝茯苓丸 2 次/日，BP 130/85 mmHg；café naïve résumé，Ω≈3.14，emoji 🌿。", "  前后空格\t与制表符  "]
    from transformers import AutoTokenizer

    expanded = AutoTokenizer.from_pretrained(str(inputs["out"]))
    for text in mixed + make_corpus(50, seed=1):
        assert expanded.decode(expanded(text, add_special_tokens=False)["input_ids"]) == text
    assert all(len(expanded(f, add_special_tokens=False)["input_ids"]) == 1 for f in FORMULAS)
    assert report["chars_per_token_after"] > report["chars_per_token_before"]
    assert report["new_tokens_added"] > report["added_from_terms"]  # corpus pieces too


def test_bad_terms_line_names_file_and_line(script, tiny_model_dir, inputs, capsys):
    inputs["terms"].write_text("# comment\n黄芪\therb\n当归 herb\n", encoding="utf-8")
    assert run(script, tiny_model_dir, inputs) == 2
    err = capsys.readouterr().err
    assert f"{inputs['terms']}:3:" in err and "term<TAB>type" in err
    assert not inputs["out"].exists()


def test_corpus_errors_say_what_to_fix(script, tiny_model_dir, inputs, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"text": "   "}\n\n{"category": "western"}\n', encoding="utf-8")
    base, out = ["--base_tokenizer", str(tiny_model_dir)], ["--output_dir", str(inputs["out"])]
    assert script.main([*base, "--corpus", str(empty), *out]) == 2
    assert "holds no text" in capsys.readouterr().err
    assert script.main([*base, "--corpus", str(tmp_path / "nope.txt"), *out]) == 2
    assert "Corpus file not found" in capsys.readouterr().err
    assert script.main(["--base_tokenizer", str(tmp_path), "--corpus", str(inputs["corpus"]), *out]) == 2
    assert "Could not load a tokenizer" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "好"}\n{"text": \n', encoding="utf-8")
    assert script.main([*base, "--corpus", str(bad), *out]) == 2
    assert f"{bad}:2:" in capsys.readouterr().err


def test_unknown_term_type_lists_the_file_types(script, tiny_model_dir, inputs, capsys):
    assert run(script, tiny_model_dir, inputs, "--term_types", "herbs") == 2
    err = capsys.readouterr().err
    assert "herbs" in err and "formula, herb" in err


def test_byte_level_tokens_must_decode_to_themselves():
    """ByteLevel decodes a token made only of byte-alphabet characters ("café") as raw bytes: it is refused."""
    from llmtuner.model import vocab_expansion

    tokenizer = vocab_expansion.load_base_tokenizer(str(shared_path("assets", "qwen2.5")))
    lines = ["服用桂枝茯苓丸后，café naïve 患者好转。"] * 5
    selection = vocab_expansion.select_new_tokens(tokenizer.backend_tokenizer, lines,
                                                  pieces=["café", "naïve", "，", "12"], terms=["桂枝茯苓丸"],
                                                  min_frequency=1, max_new_tokens=10)
    assert selection.tokens == ["桂枝茯苓丸"]
    assert selection.rejected_round_trip == 2  # café, naïve; punctuation and digits are never candidates
