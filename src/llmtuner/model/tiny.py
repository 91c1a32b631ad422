"""The embedded default model: a tiny Qwen2 + ChatML tokenizer built from the project's own ``data/``.

CPU machines without hub access still need a real transformers model folder for tests and demos, and the
same code paths must serve 7B models on GPU servers. So this module trains a sentencepiece BPE vocabulary
on the text under ``data/``, turns it into an ordinary ``tokenizer.json`` fast tokenizer with ChatML
special tokens and chat template, and saves a randomly initialised ``Qwen2ForCausalLM`` next to it.

Why BPE (see also corpus.py): it trains fast enough for 2 shared cores (all ~5M characters of ``data/`` in
~3 s), maps exactly onto ``tokenizers``'s BPE model with byte fallback, as LLaMA's converted tokenizers do,
and unlike a Unigram vocabulary cannot match a literal "<0x41>" in the text to a byte piece, since merges
never build byte pieces.
"""

import json
import time
from pathlib import Path
from typing import Any

from ..extras.constants import CHATML_SPECIAL_TOKENS, DEFAULT_TINY_MODEL_DIR, PROJECT_ROOT, SHUZHIQIHUANG_SYSTEM_PROMPT
from ..extras.errors import ConfigError, DataError
from ..extras.files import staged_dir, target_problem, write_json, write_text
from ..extras.logging import get_logger
from .corpus import collect_corpus, train_sentencepiece

logger = get_logger(__name__)

BUILD_INFO_NAME = "build_info.json"
# Shipped in the folder for AutoTokenizer(..., trust_remote_code=True); see _pin_tokenizer_class.
TOKENIZER_MODULE = "tokenization_shuzhiqihuang"
TOKENIZER_MODULE_SOURCE = '''\
"""Loads tokenizer.json exactly as saved (see llmtuner.model.tiny._pin_tokenizer_class)."""

from transformers import PreTrainedTokenizerFast


class ShuzhiqihuangTokenizer(PreTrainedTokenizerFast):
    pass
'''

REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", f"{TOKENIZER_MODULE}.py", BUILD_INFO_NAME)

# Qwen2.5's ChatML template without the tool branches; the default system prompt is the project's own.
CHAT_TEMPLATE = r"""{%- set default_system = DEFAULT_SYSTEM %}
{%- if messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
{%- else %}
    {{- '<|im_start|>system\n' + default_system + '<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if not (loop.first and message['role'] == 'system') %}
        {{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
""".replace("DEFAULT_SYSTEM", json.dumps(SHUZHIQIHUANG_SYSTEM_PROMPT, ensure_ascii=False))


def sentencepiece_to_fast_tokenizer(sp_model: bytes) -> Any:
    """A ``transformers`` fast tokenizer equivalent to the sentencepiece BPE model, plus ChatML specials."""
    import sentencepiece as spm
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    sp = spm.SentencePieceProcessor(model_proto=sp_model)
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    # Merges as sentencepiece applies them: any split of a piece into two pieces, ranked by the merged
    # piece's score (= id order for BPE). Byte and control pieces only come from fallback, never merges.
    mergeable = {p for p, i in vocab.items() if not (sp.is_byte(i) or sp.is_control(i) or sp.is_unknown(i))}
    merges = sorted(
        ((vocab[piece], vocab[piece[:k]], vocab[piece[k:]]), (piece[:k], piece[k:]))
        for piece in mergeable
        for k in range(1, len(piece))
        if piece[:k] in mergeable and piece[k:] in mergeable
    )
    backend = Tokenizer(
        models.BPE(vocab=vocab, merges=[m for _, m in merges], unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    )
    # No normalizer and no dummy prefix: " " becomes "▁" only inside the text, never prepended.
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split("\n", behavior="isolated"),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True),
        ]
    )
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in CHATML_SPECIAL_TOKENS])
    endoftext, im_start, im_end = CHATML_SPECIAL_TOKENS
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>", bos_token=None, eos_token=im_end, pad_token=endoftext,
        extra_special_tokens=[im_start, im_end],  # Qwen2.5 lists them the same way
        add_bos_token=False, add_eos_token=False,
        clean_up_tokenization_spaces=False,  # would turn " ." into "." and break exact round trips
        model_input_names=["input_ids", "attention_mask"],
        padding_side="right",
        chat_template=CHAT_TEMPLATE,
        model_max_length=2048,
    )


def build_model(tokenizer: Any, seed: int) -> Any:
    """A randomly initialised ~3-5M parameter Qwen2ForCausalLM sized to the tokenizer."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=-(-len(tokenizer) // 64) * 64,  # a multiple of 64, as real checkpoints pad it
        hidden_size=256, intermediate_size=688, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2,  # grouped-query attention, as in Qwen2.5
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        dtype="float32",
        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    return model


def _chars_per_token(tokenizer: Any, corpus: list[str]) -> float:
    sample = corpus[:: max(1, len(corpus) // 5000)]  # ~5000 lines are plenty for a ratio
    # One at a time: encode_batch would start the Rust thread pool, and a later fork (DataLoader
    # workers) then warns and disables tokenizer parallelism.
    n_tokens = sum(len(tokenizer.backend_tokenizer.encode(line, add_special_tokens=False)) for line in sample)
    return round(sum(map(len, sample)) / max(1, n_tokens), 3)


def build_tiny_model(
    output_dir: str | Path,
    data_dir: str | Path = PROJECT_ROOT / "data",
    vocab_size: int = 8000,
    seed: int = 42,
    overwrite: bool = False,
) -> Path:
    """Build the tiny model folder from ``data_dir`` and return its path.

    ``vocab_size`` counts the three ChatML specials, so ``len(tokenizer) == vocab_size`` when the data
    allows that many pieces. The folder appears atomically: it is written to a hidden sibling and renamed.
    """
    start = time.perf_counter()
    output_dir = Path(output_dir).absolute()
    problem = target_problem(output_dir, overwrite)  # before the build, which takes a while
    if problem:
        fix = "pass overwrite=True (--overwrite) to rebuild it, or " if output_dir.is_dir() else ""
        raise ConfigError(f"{problem}: {fix}choose another --output_dir.")
    if vocab_size < 300:
        raise ConfigError(f"vocab_size={vocab_size} is too small: 256 byte pieces alone need more.")

    corpus, used_files = collect_corpus(data_dir)
    n_chars = sum(map(len, corpus))
    logger.info("Tokenizer corpus: %d lines, %d chars from %d files.", len(corpus), n_chars, len(used_files))
    sp_model = train_sentencepiece(corpus, vocab_size - len(CHATML_SPECIAL_TOKENS))
    tokenizer = sentencepiece_to_fast_tokenizer(sp_model)
    model = build_model(tokenizer, seed)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("Tokenizer: %d tokens; model: %d parameters.", len(tokenizer), n_params)

    with staged_dir(output_dir, "tmp", overwrite) as tmp_dir:
        tokenizer.save_pretrained(tmp_dir)
        model.save_pretrained(tmp_dir)
        (tmp_dir / "sentencepiece.model").write_bytes(sp_model)  # provenance; loaders use tokenizer.json
        _pin_tokenizer_class(tmp_dir)
        info = {
            "vocab_size": len(tokenizer),
            "model_vocab_size": model.config.vocab_size,
            "num_parameters": n_params,
            "chars_per_token": _chars_per_token(tokenizer, corpus),
            "tokenizer": "sentencepiece bpe -> tokenizers BPE (byte fallback)",
            "data_dir": str(Path(data_dir).absolute()),
            "data_files": used_files,
            "corpus_lines": len(corpus),
            "corpus_chars": n_chars,
            "seed": seed,
            "seconds": round(time.perf_counter() - start, 2),
        }
        write_json(tmp_dir / BUILD_INFO_NAME, info)
    logger.info("Wrote the tiny model to %s in %.1f s.", output_dir, time.perf_counter() - start)
    return output_dir


def _pin_tokenizer_class(folder: Path) -> None:
    """Make ``AutoTokenizer.from_pretrained(folder)`` return the tokenizer.json as saved.

    transformers 5 lists model_type "qwen2" among models whose hub ``tokenizer_class`` it distrusts, so it
    ignores ``tokenizer_class`` and rebuilds a Qwen2Tokenizer (NFC + regex + ByteLevel), which scrambles a
    sentencepiece vocabulary. Its one escape is ``auto_map``: with trust_remote_code off (our default) it
    then drops auto_map for such models and honours ``tokenizer_class``; with it on, it imports the one-line
    subclass shipped next to the files. Both paths load tokenizer.json unchanged (tests check both).
    """
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config["auto_map"] = {"AutoTokenizer": [None, f"{TOKENIZER_MODULE}.ShuzhiqihuangTokenizer"]}
    write_json(path, config)
    write_text(folder / f"{TOKENIZER_MODULE}.py", TOKENIZER_MODULE_SOURCE)


def is_complete(folder: str | Path) -> bool:
    """True when ``folder`` holds a finished build (build_info.json is written last)."""
    return all((Path(folder) / name).is_file() for name in REQUIRED_FILES)


def _built_from_other_data(folder: Path) -> bool:
    """True when data/ changed since the build: its tokenizer no longer matches the project's text."""
    info = json.loads((folder / "build_info.json").read_text(encoding="utf-8"))
    data_dir = Path(info.get("data_dir", ""))
    if data_dir != PROJECT_ROOT / "data" or not data_dir.is_dir():
        return False  # built from elsewhere on purpose (build-tiny --data_dir): leave it
    try:
        _, used = collect_corpus(data_dir)
    except DataError:  # data/ holds no text now: nothing better to rebuild from
        return False
    if used != info.get("data_files"):
        logger.warning("The tiny model at %s was built from an older data/; rebuilding it.", folder)
        return True
    return False


def ensure_tiny_model(output_dir: str | Path | None = None) -> Path:
    """The tiny model folder (default ``PROJECT_ROOT / DEFAULT_TINY_MODEL_DIR``), built if missing/incomplete."""
    folder = Path(output_dir) if output_dir is not None else PROJECT_ROOT / DEFAULT_TINY_MODEL_DIR
    if is_complete(folder) and not _built_from_other_data(folder):
        return folder
    logger.info("No complete, current tiny model at %s; building it from %s.", folder, PROJECT_ROOT / "data")
    try:  # replace a half folder, but never a folder that another process finishes meanwhile
        return build_tiny_model(folder, overwrite=folder.exists())
    except (OSError, ConfigError):  # ConfigError: the folder appeared between the two checks
        if is_complete(folder):  # e.g. a second rank finished first: its build is identical
            return folder
        raise
