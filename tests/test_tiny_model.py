"""The embedded tiny model: tokenizer round trips, ChatML parity, reload, template, model, determinism, atomicity."""

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here must work without the hub

import pytest

from llmtuner.extras.constants import PROJECT_ROOT, SHUZHIQIHUANG_SYSTEM_PROMPT
from llmtuner.extras.errors import ConfigError, DataError
from llmtuner.model import tiny
from llmtuner.model.corpus import collect_corpus
from llmtuner.model.tiny import build_tiny_model, ensure_tiny_model

VOCAB = 2000  # small for speed; the default build uses 8000

# A small corpus in the project's formats, used where data/ is still empty and for the determinism builds.
SENTENCES = [
    "患者头痛发热，舌红苔黄，脉浮数，辨证为风热犯表。",
    "高血压患者应当低盐饮食，规律服药，定期复查血压。",
    "气虚血瘀证可用补阳还五汤加减，黄芪用量宜大。",
    "糖尿病患者空腹血糖7.8 mmol/L，糖化血红蛋白8.1%。",
    "The patient reports chest pain for 2 days; ECG shows ST elevation.",
    "建议完善血常规、肝肾功能及心电图检查，必要时及时就医。",
]


def write_sample_data(folder: Path, repeat: int = 30) -> Path:
    """The project's formats in miniature, plus files the corpus must skip."""
    files = {
        "sft.json": json.dumps([{"instruction": s, "input": "", "output": s[1:]} for s in SENTENCES] * repeat),
        "nested/chat.jsonl": "\n".join(
            json.dumps({"conversations": [{"from": "human", "value": s}, {"from": "gpt", "value": s[::-1]}]})
            for s in SENTENCES * repeat
        ),
        "terms.txt": "# term\ttype\n黄芪\therb\n当归\therb\n高血压\tdisease\n",
        "dataset_info.json": '{"skipped_info": {"file_name": "x"}}',
        "README.md": "skipped readme",
        "README.txt": "skipped_readme_txt",
        ".cache/hidden.json": '["skipped_hidden"]',
    }
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content, encoding="utf-8")
    return folder


def project_data_or_sample(tmp: Path) -> Path:
    data = PROJECT_ROOT / "data"
    try:
        collect_corpus(data)
        return data
    except DataError:  # data/ not written yet: the builder must work anyway
        return write_sample_data(tmp / "sample_data")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    return build_tiny_model(root / "model", data_dir=project_data_or_sample(root), vocab_size=VOCAB)


@pytest.fixture(scope="module")
def tok(tiny_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_dir)


def test_collect_corpus_rules(tmp_path: Path) -> None:
    corpus, used = collect_corpus(write_sample_data(tmp_path / "d", repeat=2))
    text = "\n".join(corpus)
    assert sorted(used) == ["nested/chat.jsonl", "sft.json", "terms.txt"]  # no dataset_info.json / README
    assert "黄芪" in corpus and "herb" not in text and "term" not in text  # first column, no comments
    assert "skipped" not in text and SENTENCES[0][::-1] in corpus  # nested strings of .jsonl records
    assert len(corpus) == len(set(corpus))
    with pytest.raises(DataError, match="empty_dir"):
        build_tiny_model(tmp_path / "out", data_dir=tmp_path / "empty_dir")
    assert not (tmp_path / "out").exists()


def test_folder_and_build_info(tiny_dir: Path) -> None:
    import hashlib

    assert tiny.is_complete(tiny_dir)
    info = json.loads((tiny_dir / "build_info.json").read_text(encoding="utf-8"))
    assert 300 < info["vocab_size"] <= VOCAB and info["model_vocab_size"] % 64 == 0
    assert 3_000_000 <= info["num_parameters"] <= 5_000_000
    assert info["chars_per_token"] > 1.0 and info["seed"] == 42 and info["seconds"] < 60
    data_dir = Path(info["data_dir"])
    for name, digest in info["data_files"].items():
        assert hashlib.sha256((data_dir / name).read_bytes()).hexdigest() == digest
    leftovers = [p.name for p in tiny_dir.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # the temporary sibling was renamed, not left behind


ROUND_TRIP = [
    "患者头痛发热，舌红苔黄，脉浮数。",
    "Hello,  world! It's a test.",
    "  leading and trailing spaces  ",
    "数字1234567890与小数3.14，剂量10mg/kg",
    "标点：！？；、“引号”（括号）【方括号】…",
    "line1\nline2\n\n\nline5\n",
    "\n开头换行",
    "\t制表符\tand\r\nCRLF",
    "罕见字𠀀与表情😀🩺",
    "全角　空格和 半角空格",
    "<unk> <0x41> 字面量",
    "空格 , 标点 . 之前 ! It 's , don 't",  # clean_up_tokenization_spaces would eat these spaces
    "",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip(tok, text: str) -> None:
    ids = tok.encode(text, add_special_tokens=False)
    assert tok.decode(ids) == text


def test_no_dummy_prefix_and_no_bos(tok, tiny_dir: Path) -> None:
    spec = json.loads((tiny_dir / "tokenizer.json").read_text(encoding="utf-8"))
    assert spec["normalizer"] is None
    assert "Strip" not in json.dumps(spec["decoder"])
    assert spec["pre_tokenizer"]["pretokenizers"][1]["prepend_scheme"] == "never"
    pieces = tok.convert_ids_to_tokens(tok.encode("患者 a", add_special_tokens=False))
    assert not pieces[0].startswith("▁") and pieces[1] == "▁"
    after_special = tok.convert_ids_to_tokens(tok.encode("<|im_start|>user", add_special_tokens=False))
    assert after_special[0] == "<|im_start|>" and not after_special[1].startswith("▁")
    assert tok.encode("患者", add_special_tokens=True) == tok.encode("患者", add_special_tokens=False)
    assert "\n" in tok.get_vocab() and tok.encode("\n", add_special_tokens=False) == [tok.convert_tokens_to_ids("\n")]


def test_special_tokens(tok) -> None:
    assert (tok.eos_token, tok.pad_token, tok.bos_token) == ("<|im_end|>", "<|endoftext|>", None)
    assert tok.padding_side == "right" and tok.model_input_names == ["input_ids", "attention_mask"]
    for special in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        ids = tok.encode(special, add_special_tokens=False)
        assert len(ids) == 1 and ids[0] in tok.all_special_ids
    assert tok.decode(tok.encode("答<|im_end|>", add_special_tokens=False), skip_special_tokens=True) == "答"


@pytest.mark.parametrize(
    ("query", "answer"),
    [
        ("我最近头痛怎么办？", "建议多休息，必要时就医。"),
        (" 前后有空格 ", " 回答也有空格 "),
        ("多行\n问题\n", "\n多行\n回答"),
        ("English question?", "Answer 42."),
    ],
)
def test_chatml_boundary_concatenation(tok, query: str, answer: str) -> None:
    prompt = "<|im_start|>user\n" + query + "<|im_end|>\n<|im_start|>assistant\n"
    response = answer + "<|im_end|>\n"
    enc = lambda s: tok.encode(s, add_special_tokens=False)  # noqa: E731
    assert enc(prompt) + enc(response) == enc(prompt + response)


def test_reload_parity(tok, tiny_dir: Path) -> None:
    import sentencepiece as spm
    texts = ROUND_TRIP + ["<|im_start|>system\n" + SHUZHIQIHUANG_SYSTEM_PROMPT + "<|im_end|>\n"]
    fresh = tiny.sentencepiece_to_fast_tokenizer((tiny_dir / "sentencepiece.model").read_bytes())
    assert type(tok).__name__ in ("TokenizersBackend", "PreTrainedTokenizerFast")  # not Qwen2Tokenizer
    assert len(tok) == len(fresh) and tok.get_vocab() == fresh.get_vocab()
    for text in texts:
        assert tok.encode(text, add_special_tokens=False) == fresh.encode(text, add_special_tokens=False)
    sp = spm.SentencePieceProcessor(model_file=str(tiny_dir / "sentencepiece.model"))
    for text in SENTENCES + ROUND_TRIP[:6]:  # the converted BPE segments exactly like sentencepiece
        assert tok.encode(text, add_special_tokens=False) == sp.encode(text)


def test_reload_in_fresh_offline_process(tok, tiny_dir: Path, tmp_path: Path) -> None:
    """A new process with HF_HUB_OFFLINE=1, through both AutoTokenizer paths (see tiny._pin_tokenizer_class)."""
    code = (
        "import sys, json; from transformers import AutoTokenizer\n"
        "for trust in (False, True):\n"
        "    t = AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=trust)\n"
        "    print(json.dumps([type(t).__name__, t.encode(sys.argv[2], add_special_tokens=False)]))\n"
    )
    text = "<|im_start|>user\n舌红苔黄 脉数😀<|im_end|>\n"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    run = subprocess.run([sys.executable, "-c", code, str(tiny_dir), text], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    (plain, ids), (remote, remote_ids) = [json.loads(line) for line in run.stdout.strip().splitlines()[-2:]]
    assert ids == remote_ids == tok.encode(text, add_special_tokens=False)
    assert plain != "Qwen2Tokenizer" and remote == "ShuzhiqihuangTokenizer"


def test_chat_template(tok) -> None:
    messages = [{"role": "user", "content": "头痛怎么办？"}, {"role": "assistant", "content": "多休息。"}]
    text = tok.apply_chat_template(messages, tokenize=False)
    assert text == (
        f"<|im_start|>system\n{SHUZHIQIHUANG_SYSTEM_PROMPT}<|im_end|>\n"
        "<|im_start|>user\n头痛怎么办？<|im_end|>\n<|im_start|>assistant\n多休息。<|im_end|>\n"
    )
    custom = [{"role": "system", "content": "你是医生。"}] + messages[:1]
    prompt = tok.apply_chat_template(custom, tokenize=False, add_generation_prompt=True)
    assert prompt == (
        "<|im_start|>system\n你是医生。<|im_end|>\n<|im_start|>user\n头痛怎么办？<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = tok.apply_chat_template(custom, add_generation_prompt=True, return_dict=True)["input_ids"]
    assert ids == tok.encode(prompt, add_special_tokens=False)
    generation_prompt = tok.encode("<|im_start|>assistant\n", add_special_tokens=False)
    assert ids[-len(generation_prompt) :] == generation_prompt
    assert generation_prompt[0] == tok.convert_tokens_to_ids("<|im_start|>")


def test_model_forward_and_generate(tok, tiny_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    cfg = model.config
    assert type(model).__name__ == "Qwen2ForCausalLM" and model.dtype == torch.float32
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (256, 4, 4, 2)
    assert cfg.tie_word_embeddings and cfg.vocab_size >= len(tok) and cfg.vocab_size % 64 == 0
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>") == cfg.eos_token_id
    assert model.generation_config.pad_token_id == tok.pad_token_id
    batch = tok.apply_chat_template(
        [{"role": "user", "content": "头痛"}], add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (1, batch["input_ids"].shape[1], cfg.vocab_size) and torch.isfinite(logits).all()
    out = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert batch["input_ids"].shape[1] < out.shape[1] <= batch["input_ids"].shape[1] + 4


@pytest.mark.parametrize("vocab_size", [VOCAB, 320])  # 320: fewer pieces than characters (restrict_characters)
def test_determinism(tmp_path: Path, vocab_size: int) -> None:
    data = write_sample_data(tmp_path / "data")
    first = build_tiny_model(tmp_path / "a", data_dir=data, vocab_size=vocab_size)
    second = build_tiny_model(tmp_path / "b", data_dir=data, vocab_size=vocab_size)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "model.safetensors", "config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    info = json.loads((first / "build_info.json").read_text(encoding="utf-8"))
    assert info["vocab_size"] <= vocab_size and (vocab_size == 320) == (info["vocab_size"] == 320)


def test_ensure_and_atomic_rebuild(tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_build(*args, **kwargs):
        raise AssertionError("ensure_tiny_model rebuilt a complete folder")

    monkeypatch.setattr(tiny, "build_tiny_model", no_build)
    assert ensure_tiny_model(tiny_dir) == tiny_dir

    calls = []
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "config.json").write_text("{}")  # a half folder: no build_info.json
    monkeypatch.setattr(tiny, "build_tiny_model", lambda out, **kw: calls.append((out, kw)) or Path(out))
    assert ensure_tiny_model(incomplete) == incomplete and calls == [(incomplete, {"overwrite": True})]
    assert ensure_tiny_model(tmp_path / "missing") == tmp_path / "missing"  # a missing folder: no overwrite
    assert calls[-1] == (tmp_path / "missing", {"overwrite": False})
    monkeypatch.undo()

    with pytest.raises(ConfigError, match="--overwrite"):
        build_tiny_model(tiny_dir, data_dir=tmp_path)  # never silently replaces a folder
    # A failure after training leaves neither the output nor a temporary sibling behind.
    monkeypatch.setattr(tiny, "_chars_per_token", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        build_tiny_model(tmp_path / "out" / "m", data_dir=write_sample_data(tmp_path / "d"), vocab_size=VOCAB)
    assert list((tmp_path / "out").iterdir()) == []


def test_ensure_rebuilds_a_model_built_from_older_data(tmp_path: Path, tiny_model_dir: Path) -> None:
    import shutil

    folder = tmp_path / "tiny"
    shutil.copytree(tiny_model_dir, folder)
    info_path = folder / "build_info.json"
    current = json.loads(info_path.read_text(encoding="utf-8"))
    weights_written = (folder / "model.safetensors").stat().st_mtime_ns
    assert tiny.ensure_tiny_model(folder) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == weights_written  # current: reused, not rebuilt
    stale = dict(current, data_files={"removed_since.json": "0" * 64})
    info_path.write_text(json.dumps(stale), encoding="utf-8")
    tiny.ensure_tiny_model(folder)
    assert json.loads(info_path.read_text(encoding="utf-8"))["data_files"] == current["data_files"]


def test_preference_files_stay_out_of_the_tokenizer_corpus(tmp_path):
    """Adding preference pairs or GRPO prompt sets (`"stage": "grpo"`) to data/ must not change the embedded model
    (every figure measured on it)."""
    import json
    import shutil

    from llmtuner.extras.constants import PROJECT_ROOT
    from llmtuner.model.corpus import collect_corpus

    data = tmp_path / "data"
    shutil.copytree(PROJECT_ROOT / "data", data)
    before, used = collect_corpus(data)
    (data / "pairs.json").write_text(json.dumps([{"instruction": "新问题", "chosen": "从未出现过的回答甲", "rejected": "乙"}],
                                                ensure_ascii=False), encoding="utf-8")
    registry = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    registry["pairs"] = {"file_name": "pairs.json", "ranking": True, "columns": {"prompt": "instruction"}}
    (data / "prompts.json").write_text(json.dumps([{"question": "从未出现过的题干丙", "options": {"A": "丁", "B": "戊"},
                                                    "answer": "A"}], ensure_ascii=False), encoding="utf-8")
    registry["prompts"] = {"file_name": "prompts.json", "formatting": "mcq", "stage": "grpo"}
    (data / "dataset_info.json").write_text(json.dumps(registry, ensure_ascii=False), encoding="utf-8")
    after, used_after = collect_corpus(data)
    assert after == before and "pairs.json" not in used_after and "medical_preference_sample.json" not in used
    assert "prompts.json" not in used_after and "medical_grpo_sample.json" not in used
    assert "medical_sft_sample.json" in used
