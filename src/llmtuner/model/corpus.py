"""Text to train a tokenizer on: corpus files, term lists, and the sentencepiece BPE training both builders use.

Two callers read corpora differently, on purpose (hence the keyword arguments of :func:`file_texts`):

- the tiny-model builder (``tiny.py``) reads the project's own ``data/`` with :func:`collect_corpus`: every
  string of every JSON value, since its knowledge files have many schemas, and ``.txt`` files are
  ``term<TAB>type`` tables with ``#`` comments. A file it cannot parse is skipped (``data/`` may be half
  regenerated while a build runs), and the files used are hashed so a stale build can be noticed.
- vocabulary expansion (``vocab_expansion.py``, ``scripts/expand_vocab.py``) reads the user's training data
  with :func:`read_corpus`: only the fields a model trains on (``text``, alpaca fields, conversation turns; no
  ids or tags) and ``.txt`` lines as written. A file it cannot parse is an error naming file and line.

Why BPE and not unigram: on 1.6M characters of ``data/`` sentencepiece BPE trained in 1.1 s and unigram in
17.6 s (one thread), and the tiny build must stay fast on 2 shared cores. Every BPE piece is also a frequent
contiguous substring of the corpus by construction, which is what an added token (matched whole) needs.
"""

import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..extras.errors import DataError
from ..extras.logging import get_logger

logger = get_logger(__name__)

MAX_TRAIN_CHARS = 8_000_000  # keeps the sentencepiece step to a few seconds however big the corpus grows
MAX_LINE_CHARS = 2000  # sentencepiece skips over-long sentences (max_sentence_length is in bytes)
TEXT_FIELDS = ("text", "system", "instruction", "input", "output")  # `text` (pretraining) and alpaca fields
CONVERSATION_FIELDS = ("conversations", "messages")  # sharegpt / OpenAI style: value or content of each turn


# ----------------------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------------------


def record_texts(record: Any) -> Iterator[str]:
    """Trained-on text of one .json/.jsonl record: a string, its `text`/alpaca fields, or its conversation turns."""
    if isinstance(record, str):
        yield record
        return
    if not isinstance(record, dict):
        return
    for key in TEXT_FIELDS:
        if isinstance(record.get(key), str):
            yield record[key]
    for pair in record.get("history") or []:  # alpaca multi-turn: [[query, answer], ...]
        if isinstance(pair, list):
            yield from (s for s in pair if isinstance(s, str))
    for key in CONVERSATION_FIELDS:
        for turn in record.get(key) or []:
            if isinstance(turn, dict):
                yield from (turn[k] for k in ("value", "content") if isinstance(turn.get(k), str))


def all_strings(obj: Any) -> Iterator[str]:
    """Every string value inside a JSON value, depth first (keys are field names, not text)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, (list, dict)):
        for item in obj.values() if isinstance(obj, dict) else obj:
            yield from all_strings(item)


def file_texts(path: Path, raw: bytes, every_string: bool = False, term_table: bool = False) -> list[str]:
    """The texts in one corpus file's bytes ``raw``: .txt lines, or the strings of .json/.jsonl records.

    ``every_string``: every string of a record (``data/``'s many schemas), not only the trained-on fields.
    ``term_table``: .txt files are ``term<TAB>type`` tables: ``#`` comments and blank lines skipped, the first
    column kept (``data/``'s lexicon; the type names are not text). Raises DataError for a file that is not
    UTF-8 or not valid JSON; the message names the line but never quotes it.
    """
    try:
        content = raw.decode("utf-8-sig")  # -sig: a BOM (Windows editors) is not text
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte {error.start}). Convert it, e.g. "
                        "`iconv -f GB18030 -t UTF-8`.") from None
    texts = all_strings if every_string else _record_list_texts
    suffix = path.suffix.lower()
    if suffix == ".txt":
        if term_table:
            return [line.split("\t")[0] for line in content.splitlines() if line.strip() and not line.startswith("#")]
        return content.splitlines()
    if suffix == ".jsonl":
        docs = []
        for number, line in enumerate(content.splitlines(), 1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(f"{path}:{number}: not valid JSON ({error.msg}, column {error.colno}). "
                                    "A .jsonl file holds one JSON object per line; fix or remove the line.") from None
                docs.extend(texts(record))
        return docs
    try:
        data = json.loads(content)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: not valid JSON ({error.msg}). Fix the file, or name it .txt "
                        "if it is plain text.") from None
    return list(texts(data))


def _record_list_texts(data: Any) -> Iterator[str]:
    """Trained-on text of a JSON file's top level: a list of records, or one record."""
    for record in data if isinstance(data, list) else [data]:
        yield from record_texts(record)


def split_long_lines(lines: Iterable[str]) -> list[str]:
    """Lines cut into pieces of at most MAX_LINE_CHARS, which sentencepiece would otherwise skip."""
    return [line[i : i + MAX_LINE_CHARS] for line in lines for i in range(0, len(line), MAX_LINE_CHARS)]


def stride_sample(lines: list[str], max_chars: int) -> list[str]:
    """Every k-th line so that about ``max_chars`` characters remain (deterministic, spread over all files)."""
    total = sum(map(len, lines))
    return lines if total <= max_chars else lines[:: -(-total // max_chars)]


# ----------------------------------------------------------------------------------------------------------
# the two callers' corpora, and term lists
# ----------------------------------------------------------------------------------------------------------


def preference_files(data_dir: Path) -> set[str]:
    """Files dataset_info.json registers as preference data (`ranking: true`, or a KTO `kto_tag` column) or as GRPO
    prompt sets (`"stage": "grpo"`). They repeat the SFT questions with alternative answers (or ask about the training
    facts once more), so the tokenizer corpus leaves them out: the embedded model, and every figure measured on it,
    stays the same when preference or GRPO samples are added."""
    import json

    try:
        registry = json.loads((data_dir / "dataset_info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {str(entry.get("file_name")) for entry in registry.values() if isinstance(entry, dict)
            and (entry.get("ranking") or "kto_tag" in (entry.get("columns") or {}) or entry.get("stage") == "grpo")}


def collect_corpus(data_dir: str | Path) -> tuple[list[str], dict[str, str]]:
    """The tiny model's training lines from every .json/.jsonl/.txt under ``data_dir`` (deduplicated, at most
    MAX_LINE_CHARS long, stride-sampled to MAX_TRAIN_CHARS), and ``{relative path: sha256}`` of the files used."""
    data_dir = Path(data_dir)
    pairs = preference_files(data_dir)
    files = sorted(
        p
        for p in (data_dir.rglob("*") if data_dir.is_dir() else [])
        if p.is_file()
        and p.suffix in (".json", ".jsonl", ".txt")
        and p.name != "dataset_info.json"
        and not p.name.lower().startswith("readme")
        and not any(part.startswith(".") for part in p.relative_to(data_dir).parts)
        and p.relative_to(data_dir).as_posix() not in pairs
    )
    lines: dict[str, None] = {}  # ordered set: repeated metadata values ("western", "gpt") count once
    used: dict[str, str] = {}
    for path in files:
        raw = path.read_bytes()  # hashed and parsed from the same bytes
        try:
            # every string, lexicon tables: data/'s files have many schemas, and its .txt files are term lists
            texts = file_texts(path, raw, every_string=True, term_table=True)
        except DataError as err:  # e.g. a file still being written: skipped, where a user's corpus is an error
            logger.warning("Skipping a file for the tokenizer corpus: %s", err)
            continue
        for text in texts:  # "\n" is a user-defined piece: sentences need not contain it
            for line in split_long_lines(text.split("\n")):
                lines[line] = None
        used[path.relative_to(data_dir).as_posix()] = hashlib.sha256(raw).hexdigest()
    corpus = [line for line in lines if line.strip()]
    if not corpus:
        raise DataError(f"No training text in {data_dir.resolve()} (looked for .json, .jsonl and .txt files).")
    return stride_sample(corpus, MAX_TRAIN_CHARS), used


def read_corpus(paths: Sequence[str | Path]) -> list[str]:
    """Vocabulary expansion's corpus: non-empty lines of the files; .txt one document per line, .json/.jsonl
    records' trained-on fields. Every problem is a DataError that says what to fix."""
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise DataError(f"Corpus file not found: {', '.join(missing)}. Give existing files to --corpus, "
                        "comma-separated (.txt, .json or .jsonl).")
    lines: list[str] = []
    for path in map(Path, paths):
        if path.suffix.lower() not in (".txt", ".json", ".jsonl"):
            raise DataError(f"{path}: unsupported corpus format {path.suffix!r}. Use .txt (one document per line), "
                            "or .json/.jsonl with a `text` field or alpaca instruction/input/output fields.")
        for doc in file_texts(path, path.read_bytes()):  # trained-on fields only, .txt lines as written
            lines.extend(line for line in doc.split("\n") if line.strip())  # a line break is never a new token
    if not lines:
        raise DataError(f"The corpus ({', '.join(map(str, paths))}) holds no text. A .txt file needs non-empty "
                        "lines; .json/.jsonl records need a `text` field or instruction/input/output fields.")
    return lines


def read_terms(path: str | Path, types: Sequence[str] | None = None) -> list[str]:
    """Terms from a ``term<TAB>type`` file (``#`` comments and blank lines skipped), optionally only ``types``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Terms file not found: {path}. Give a `term<TAB>type` file to --terms, or leave it out.")
    wanted = set(types or [])
    terms: dict[str, None] = {}  # ordered set
    seen_types: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            hint = " (a space instead of the tab?)" if len(fields) == 1 and " " in line.strip() else ""
            raise DataError(f"{path}:{number}: expected `term<TAB>type` (exactly one tab, both non-empty), got "
                            f"{len(fields)} field(s){hint}. Fix the line or comment it out with `#`.")
        term, kind = fields[0].strip(), fields[1].strip()
        seen_types.add(kind)
        if not wanted or kind in wanted:
            terms[term] = None
    unknown = wanted - seen_types
    if unknown:
        raise DataError(f"--term_types {', '.join(sorted(unknown))} not in {path}; its types are: "
                        f"{', '.join(sorted(seen_types))}.")
    return list(terms)


# ----------------------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------------------


def restrict_characters(corpus: list[str], vocab_size: int, coverage: float = 0.9995) -> list[str]:
    """The corpus cut at characters that do not fit when ``coverage`` needs over half of the non-byte pieces.

    Chinese needs ~3,700 characters for 99.95% coverage, more than a 2,000-piece test vocabulary holds, and
    sentencepiece refuses coverage below 0.98. Lines are split at the rarest characters instead, so they get
    no piece and fall back to bytes (which round-trip all the same).
    """
    ranked = sorted(Counter("".join(corpus)).items(), key=lambda kv: (-kv[1], kv[0]))
    budget = max(1, (vocab_size - 256 - 2) // 2)  # 256 byte pieces, <unk> and "\n" come first
    total, needed, covered = sum(n for _, n in ranked), 0, 0
    while needed < len(ranked) and covered < coverage * total:
        covered += ranked[needed][1]
        needed += 1
    if needed <= budget:
        return corpus
    # the space stays whatever its rank: without a "▁" piece every space would cost three byte tokens
    rare = {ord(ch): "\n" for ch, _ in ranked[budget:] if ch != " "}
    logger.info("Keeping the %d most frequent of %d characters for %d pieces.", budget, len(ranked), vocab_size)
    return [part for line in corpus for part in line.translate(rare).split("\n") if part.strip()]


def train_sentencepiece(corpus: list[str], vocab_size: int) -> bytes:
    """Serialized sentencepiece BPE model with byte fallback, identity normalisation and no BOS/EOS.

    ``corpus`` lines should be at most MAX_LINE_CHARS long (:func:`split_long_lines`).
    """
    import sentencepiece as spm

    options = dict(
        model_type="bpe",
        vocab_size=vocab_size,
        byte_fallback=True,
        normalization_rule_name="identity",  # keeps "\n", full-width punctuation and spaces as written
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        split_digits=True,
        character_coverage=0.9995,
        user_defined_symbols=["\n"],  # always its own piece: tokenisation is context-free at line breaks
        required_chars="▁",  # a space piece even when the corpus has few spaces (else 3 byte tokens per space)
        unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,  # ids 1.. are "\n" and the 256 byte pieces
        num_threads=1,  # determinism
        max_sentence_length=4 * MAX_LINE_CHARS,
        minloglevel=2,
    )
    sentences = restrict_characters(corpus, vocab_size)
    for hard_limit in (True, False):
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences), model_writer=model, hard_vocab_limit=hard_limit, **options
            )
            return model.getvalue()
        except RuntimeError as err:
            if not hard_limit or "Vocabulary size" not in str(err):
                raise
            logger.warning("Little text for %d pieces (%s); training with a soft vocabulary limit.", vocab_size, err)
    raise AssertionError("unreachable")
