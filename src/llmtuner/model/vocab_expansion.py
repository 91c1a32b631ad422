"""Vocabulary expansion, offline (``scripts/expand_vocab.py``): new domain tokens for a base tokenizer.

Candidate pieces come from a sentencepiece model trained on the domain corpus plus a curated term list; they
are added to the base tokenizer as normal (non-special) added tokens.

How added tokens behave in a ``tokenizers`` fast tokenizer, which decides what may be added:

- They are matched *before* pre-tokenisation, by the added vocabulary (Aho-Corasick, leftmost-longest),
  on the normalised text (``add_tokens`` makes non-special tokens ``normalized=True``: after Qwen's NFC).
  The Qwen/Llama-3 regex split and the ByteLevel step never see them. So a token matches anywhere, also
  inside a word or right after a space, where it takes the text away from the base merges (``" ginseng"``
  loses its ``Ġ``-prefixed merges). A token can therefore make encoding *longer*; each candidate is kept
  only when its measured marginal gain on the corpus is positive (:func:`select_new_tokens`).
- Decoding sends added tokens through the model's decoder too. The ByteLevel decoder maps a token's
  characters back through the byte alphabet only when *all* of them belong to it, else it takes the
  token's UTF-8 bytes. Chinese tokens take the UTF-8 path and round-trip; a token made only of Latin-1
  characters such as ``"é"`` is read as byte 0xE9 and decodes to U+FFFD. Every candidate must therefore
  decode to itself and encode to itself alone, and the whole corpus must round-trip as before.

Training then grows the model's embeddings to the new tokenizer and trains them (``embeddings.py``).
"""

import json
import shutil
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..extras.errors import DataError
from ..extras.files import staged_dir, target_problem, write_json
from ..extras.logging import get_logger
from .corpus import MAX_TRAIN_CHARS, split_long_lines, stride_sample, train_sentencepiece

logger = get_logger(__name__)

REPORT_NAME = "expand_vocab_report.json"
MAX_EVAL_CHARS = 4_000_000  # corpus sample for gains and chars/token: a ratio needs no more
MAX_OCCURRENCES = 32  # occurrences per token whose marginal gain is measured exactly; the rest are scaled
MAX_PRUNE_ROUNDS = 4


# ----------------------------------------------------------------------------------------------------------
# candidates and selection
# ----------------------------------------------------------------------------------------------------------


def train_candidate_pieces(lines: list[str], vocab_size: int) -> list[str]:
    """Pieces of a sentencepiece BPE model trained on ``lines``, in merge order, as plain text.

    BPE rather than unigram: every BPE piece is a frequent contiguous substring of the corpus by
    construction (each merge joins the most frequent adjacent pair), which is exactly what an added token
    (matched as a whole string) needs; unigram keeps pieces by segmentation likelihood and trained ~15x
    slower on this project's data (see corpus.py). Pieces are only candidates: the selection re-scores each
    one by its measured gain under the base tokenizer. Options (corpus.train_sentencepiece): character
    coverage 0.9995, split_digits, identity normalisation, no dummy prefix, byte fallback.
    """
    import sentencepiece as spm

    sentences = stride_sample(split_long_lines(lines), MAX_TRAIN_CHARS)
    sp = spm.SentencePieceProcessor(model_proto=train_sentencepiece(sentences, vocab_size))
    return [
        sp.id_to_piece(i).replace("▁", " ")
        for i in range(sp.get_piece_size())
        if not (sp.is_byte(i) or sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i))
    ]


def is_candidate_text(text: str) -> bool:
    """A word-like piece: no whitespace, at least one letter (CJK counts), not only punctuation/digits."""
    if not text or any(ch.isspace() for ch in text):  # spaces interact with Ġ/▁ merges; never worth a token
        return False
    return any(unicodedata.category(ch).startswith("L") for ch in text)


def _backend_copy(backend: Any) -> Any:
    """An independent copy of a ``tokenizers.Tokenizer``, to try token sets on without touching the original."""
    from tokenizers import Tokenizer

    return Tokenizer.from_str(backend.to_str())


def _encode(backend: Any, texts: list[str]) -> list[Any]:
    return backend.encode_batch(texts, add_special_tokens=False) if texts else []


@dataclass
class Selection:
    """Outcome of :func:`select_new_tokens`."""

    tokens: list[str]
    gains: dict[str, float] = field(default_factory=dict)  # estimated tokens saved on the corpus sample
    usage: dict[str, int] = field(default_factory=dict)  # times used when encoding the sample
    terms_already_single: int = 0
    terms_capped: int = 0
    rejected_round_trip: int = 0
    rejected_no_gain: int = 0


def _split_tokens(backend: Any, texts: Iterable[str]) -> list[str]:
    """The texts (deduplicated, in order) that ``backend`` encodes as more than one token."""
    unique = list(dict.fromkeys(texts))
    return [t for t, enc in zip(unique, _encode(backend, unique)) if len(enc.ids) > 1]


def _self_consistent(backend: Any, tokens: list[str]) -> list[str]:
    """The ``tokens`` that, once added to a copy of ``backend``, encode to themselves alone and decode back."""
    trial = _backend_copy(backend)
    trial.add_tokens(tokens)
    ids = [trial.token_to_id(t) for t in tokens]
    decoded = trial.decode_batch([[i] for i in ids], skip_special_tokens=False)
    encoded = _encode(trial, tokens)
    return [t for t, i, d, e in zip(tokens, ids, decoded, encoded) if d == t and e.ids == [i]]


def _measure(backend: Any, tokens: list[str], lines: list[str]) -> tuple[dict[str, int], dict[str, float]]:
    """Usage and marginal gain (tokens saved) of each token when all ``tokens`` are added, on ``lines``.

    Added tokens cut a line into segments that the base tokenizer encodes on their own. Removing one
    occurrence of token t joins it with its two neighbouring segments, so its marginal gain there is
    ``len(base(left + t + right)) - (n_left + 1 + n_right)``; this is measured exactly for up to
    MAX_OCCURRENCES occurrences per token and scaled to all of them.
    """
    trial = _backend_copy(backend)
    trial.add_tokens(tokens)
    first_new = backend.get_vocab_size(with_added_tokens=True)
    usage: Counter[int] = Counter()
    joined: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for line, enc in zip(lines, _encode(trial, lines)):
        ids, offsets = enc.ids, enc.offsets
        positions = [i for i, token_id in enumerate(ids) if token_id >= first_new]
        for k, i in enumerate(positions):
            usage[ids[i]] += 1
            if len(joined[ids[i]]) < MAX_OCCURRENCES:
                left = positions[k - 1] if k else -1
                right = positions[k + 1] if k + 1 < len(positions) else len(ids)
                start = offsets[left][1] if left >= 0 else 0
                end = offsets[right][0] if right < len(ids) else len(line)
                joined[ids[i]].append((line[start:end], right - left - 1))
    flat = [(token_id, text, n) for token_id, items in joined.items() for text, n in items]
    lengths = [len(enc.ids) for enc in _encode(backend, [text for _, text, _ in flat])]
    saved: dict[int, list[int]] = defaultdict(list)
    for (token_id, _, n_with), n_without in zip(flat, lengths):
        saved[token_id].append(n_without - n_with)
    names = {trial.token_to_id(t): t for t in tokens}
    gains = {names[i]: usage[i] * sum(s) / len(s) for i, s in saved.items()}
    return {names[i]: n for i, n in usage.items()}, gains


def select_new_tokens(backend: Any, lines: list[str], pieces: Sequence[str], terms: Sequence[str],
                      min_frequency: int, max_new_tokens: int) -> Selection:
    """Tokens to add to ``backend``: every term it splits, plus corpus pieces that shorten its encoding.

    Pieces must be word-like, not already one token, used at least ``min_frequency`` times and save
    tokens on the corpus given everything else that is added (pruned in rounds, since removing one token
    changes the others' gains). Terms are kept regardless of gain: the user asked for them. Every token
    must encode and decode as itself. Terms come first, by usage, then pieces by gain, up to ``max_new_tokens``.
    """
    term_set = dict.fromkeys(t for t in terms if t)
    split_terms = _split_tokens(backend, term_set)
    split_pieces = [p for p in _split_tokens(backend, (p for p in pieces if is_candidate_text(p))) if p not in term_set]
    selection = Selection(tokens=[], terms_already_single=len(term_set) - len(split_terms))
    consistent = set(_self_consistent(backend, split_terms + split_pieces))
    selection.rejected_round_trip = len(split_terms) + len(split_pieces) - len(consistent)
    split_terms = [t for t in split_terms if t in consistent]
    candidates = [p for p in split_pieces if p in consistent]
    usage: dict[str, int] = {}
    gains: dict[str, float] = {}
    for _ in range(MAX_PRUNE_ROUNDS):
        usage, gains = _measure(backend, split_terms + candidates, lines)
        kept = [p for p in candidates if usage.get(p, 0) >= min_frequency and gains.get(p, 0.0) > 0]
        if len(kept) == len(candidates):
            break
        selection.rejected_no_gain += len(candidates) - len(kept)
        candidates = kept
    ranked_terms = sorted(split_terms, key=lambda t: -usage.get(t, 0))  # stable: file order among equals
    ranked_pieces = sorted(candidates, key=lambda p: -gains.get(p, 0.0))
    selection.terms_capped = max(0, len(ranked_terms) - max_new_tokens)
    chosen_terms = ranked_terms[:max_new_tokens]
    selection.tokens = chosen_terms + ranked_pieces[: max_new_tokens - len(chosen_terms)]
    selection.usage = {t: usage.get(t, 0) for t in selection.tokens}
    selection.gains = {t: round(gains.get(t, 0.0), 1) for t in selection.tokens}
    return selection


# ----------------------------------------------------------------------------------------------------------
# measurements
# ----------------------------------------------------------------------------------------------------------


def encode_stats(backend: Any, lines: list[str]) -> tuple[list[Any], int, set[int]]:
    """Encodings of ``lines`` (no special tokens), their total token count, and the lines not round-tripping."""
    encodings = _encode(backend, lines)
    decoded = backend.decode_batch([enc.ids for enc in encodings], skip_special_tokens=False) if lines else []
    failures = {i for i, (line, text) in enumerate(zip(lines, decoded)) if line != text}
    return encodings, sum(len(enc.ids) for enc in encodings), failures


# ----------------------------------------------------------------------------------------------------------
# the whole expansion
# ----------------------------------------------------------------------------------------------------------


def load_base_tokenizer(path: str, trust_remote_code: bool = False) -> Any:
    """The base tokenizer as ``AutoTokenizer`` loads it; it must be a fast (``tokenizers``) tokenizer."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except Exception as error:  # OSError, ValueError, and whatever a broken tokenizer.json raises
        hint = (" It ships its own tokenizer code: pass --trust_remote_code if you trust it."
                if "trust_remote_code" in str(error) else "")
        raise DataError(f"Could not load a tokenizer from {path!r}: {error}. Give --base_tokenizer a folder with "
                        f"tokenizer.json (or tokenizer.model) and tokenizer_config.json.{hint}") from error
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise DataError(f"The tokenizer in {path!r} ({type(tokenizer).__name__}) is not a fast tokenizer. Vocabulary "
                        "expansion needs a tokenizer.json; convert it with `AutoTokenizer.from_pretrained(path)` "
                        "and `save_pretrained` first.")
    return tokenizer


def expand_tokenizer(tokenizer: Any, lines: list[str], terms: Sequence[str], vocab_size: int = 8000,
                     min_frequency: int = 5, max_new_tokens: int = 5000) -> dict[str, Any]:
    """Add domain tokens to ``tokenizer`` in place and return the report (counts, chars/token, samples).

    The corpus must round-trip through the expanded tokenizer wherever it did through the base: tokens
    used in lines that stop round-tripping are dropped (on a trial copy) until none are left.
    """
    start = time.perf_counter()
    base = tokenizer.backend_tokenizer
    sample = stride_sample(lines, MAX_EVAL_CHARS)
    base_size = len(tokenizer)
    chars = sum(map(len, sample))
    _, tokens_before, base_failures = encode_stats(base, sample)
    pieces = train_candidate_pieces(lines, vocab_size)
    logger.info("Sentencepiece BPE gave %d candidate pieces; %d terms given.", len(pieces), len(terms))
    selection = select_new_tokens(base, sample, pieces, terms, min_frequency, max_new_tokens)
    term_set = set(terms)
    base_single = term_set - set(_split_tokens(base, term_set))
    tokens = selection.tokens
    while True:
        # A piece goes if a line that round-tripped through the base no longer does where it is used, or if
        # it splits a term (leftmost-longest matching lets "补中益" cut "补中益气汤" out of the base vocabulary).
        trial = _backend_copy(base)
        trial.add_tokens(tokens)
        encodings, tokens_after, failures_after = encode_stats(trial, sample)
        new = set(tokens)
        broken = {t for i in failures_after - base_failures for t in encodings[i].tokens if t in new}
        protected = sorted(t for t in term_set if t in base_single or t in new)
        cut = {term: enc for term, enc in zip(protected, _encode(trial, protected)) if len(enc.ids) > 1}
        broken |= {t for enc in cut.values() for t in enc.tokens if t in new and t not in term_set}
        if not broken:
            break
        logger.warning("%d new tokens break the corpus round trip or split a term; leaving them out.", len(broken))
        selection.rejected_round_trip += len(broken)
        tokens = [t for t in tokens if t not in broken]
    tokenizer.add_tokens(tokens)  # as the trial did: normal tokens (special=False, normalized=True)
    # A base token can only be protected by making it an added token, which for byte-level vocabularies is a
    # new, untrained duplicate row: so a term that another term cuts up (竹叶 in 淡竹叶) is reported instead.
    if cut:
        logger.warning("%d terms that were single tokens are split by other added terms (see the report).", len(cut))
    report = {
        "base_vocab_size": base_size,
        "new_tokens_added": len(tokenizer) - base_size,
        "new_vocab_size": len(tokenizer),
        "added_from_terms": sum(t in term_set for t in tokens),
        "added_from_corpus_pieces": sum(t not in term_set for t in tokens),
        "terms_given": len(term_set),
        "terms_already_single_tokens": selection.terms_already_single,
        "terms_left_out_by_max_new_tokens": selection.terms_capped,
        "terms_not_single_tokens": sum(len(enc.ids) > 1 for enc in _encode(trial, sorted(term_set))),
        "single_terms_split_by_added_terms": sorted(cut)[:50],
        "candidate_pieces": len(pieces),
        "rejected_round_trip_or_splitting_terms": selection.rejected_round_trip,
        "rejected_no_gain_or_rare": selection.rejected_no_gain,
        "corpus_lines": len(lines),
        "corpus_chars": sum(map(len, lines)),
        "measured_lines": len(sample),
        "measured_chars": chars,
        "tokens_before": tokens_before,
        "tokens_after": tokens_after,
        "chars_per_token_before": round(chars / max(1, tokens_before), 4),
        "chars_per_token_after": round(chars / max(1, tokens_after), 4),
        "round_trip_exact_lines_before": len(sample) - len(base_failures),
        "round_trip_exact_lines_after": len(sample) - len(failures_after),
        "sample_added_tokens": [
            {"token": t, "uses": selection.usage.get(t, 0), "tokens_saved": selection.gains.get(t, 0.0)}
            for t in sorted(tokens, key=lambda t: -selection.usage.get(t, 0))[:30]
        ],
        "settings": {"piece_model": "sentencepiece bpe", "vocab_size": vocab_size, "min_frequency": min_frequency,
                     "max_new_tokens": max_new_tokens},
        "seconds": round(time.perf_counter() - start, 2),
    }
    logger.info("Added %d tokens (%d terms, %d corpus pieces): %d -> %d; chars/token %.3f -> %.3f.",
                report["new_tokens_added"], report["added_from_terms"], report["added_from_corpus_pieces"],
                base_size, len(tokenizer), report["chars_per_token_before"], report["chars_per_token_after"])
    return report


MODEL_FILE_PATTERNS = ("config.json", "generation_config.json", "*.safetensors", "*.safetensors.index.json",
                       "pytorch_model*.bin", "pytorch_model.bin.index.json")


def model_embedding_rows(folder: str | Path) -> int | None:
    """``vocab_size`` from a model folder's config.json (text config for multimodal ones), if there is one."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        return None
    config = json.loads(path.read_text(encoding="utf-8"))
    rows = config.get("vocab_size") or (config.get("text_config") or {}).get("vocab_size")
    return int(rows) if rows else None


def save_expanded(tokenizer: Any, base_path: str, output_dir: str | Path, report: dict[str, Any],
                  copy_model: bool = False, overwrite: bool = False) -> Path:
    """Write the tokenizer (+ report, + the base model's config and weights if asked) to ``output_dir`` atomically.

    Everything is written to a hidden sibling folder that is renamed at the end, so a crash never leaves a
    half tokenizer that training would pick up.
    """
    output_dir = Path(output_dir).absolute()
    base = Path(base_path)
    if base.is_dir() and base.resolve() == output_dir.resolve():
        raise DataError(f"--output_dir {output_dir} is the base tokenizer's folder. Write to a new folder.")
    problem = target_problem(output_dir, overwrite)
    if problem:
        fix = "Pass --overwrite to replace it, or choose" if output_dir.is_dir() else "Choose"
        raise DataError(f"{problem}. {fix} another --output_dir.")
    model_files = sorted({p for pattern in MODEL_FILE_PATTERNS for p in base.glob(pattern)}) if copy_model else []
    if copy_model and not any(p.name != "config.json" and p.name != "generation_config.json" for p in model_files):
        raise DataError(f"--copy_model: {base} holds no model weights (*.safetensors or pytorch_model*.bin). "
                        "Give the model folder as --base_tokenizer, or leave --copy_model out.")
    with staged_dir(output_dir, "tmp", overwrite) as tmp:
        tokenizer.save_pretrained(tmp)
        _keep_tokenizer_class(base, tmp)
        for path in model_files:
            shutil.copy2(path, tmp / path.name)
        write_json(tmp / REPORT_NAME, report)
    return output_dir


def _keep_tokenizer_class(base: Path, saved: Path) -> None:
    """Give the saved tokenizer_config.json the base's ``tokenizer_class``/``auto_map`` and their code files.

    save_pretrained writes the class it loaded as (e.g. ``TokenizersBackend``); the base's own choice
    (the tiny model pins ``PreTrainedTokenizerFast`` plus an ``auto_map`` module, see tiny.py) is what makes
    AutoTokenizer load the folder the same way once a config.json sits next to it.
    """
    base_config_path = base / "tokenizer_config.json"
    if not base_config_path.is_file():
        return
    base_config = json.loads(base_config_path.read_text(encoding="utf-8"))
    path = saved / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    for key in ("tokenizer_class", "auto_map"):
        if key in base_config:
            config[key] = base_config[key]
    for entry in (base_config.get("auto_map") or {}).values():
        for reference in entry if isinstance(entry, list) else [entry]:
            module = base / f"{str(reference or '').rsplit('.', 1)[0]}.py"
            if reference and module.is_file():
                shutil.copy2(module, saved / module.name)
    write_json(path, config)
