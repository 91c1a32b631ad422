"""Character 4-grams of normalised text, an exact inverted index over them, and MinHash signatures.

`llmtuner check-data` (``data.contamination``) asks two questions of a training set, and this module answers
both in numpy, without a Python loop over n-grams:

* How much of an evaluation text lies in one training document? The *containment* share |E ∩ D| / |E| of
  the eval text's 4-gram set E in document D. Containment, not Jaccard: a 60-character reference answer
  copied into a 2,000-character record has Jaccard ~0.03 and containment 1. `GramIndex` is an inverted
  index (4-gram -> the documents holding it, one sorted array), so one query counts, for every training
  document at once, how many of the eval text's 4-grams it holds: the best document and its share are
  exact counts, not estimates. MinHash LSH (datasketch's MinHashLSHEnsemble for containment) would only
  return documents *likely* above one fixed threshold, could miss some, and would still need the exact
  count; on 100k documents the index is built in seconds and answers a query in about a millisecond.
* Which training documents are near copies of each other? All pairs cannot be counted that way (a common
  4-gram makes its posting list quadratic), so `minhash_signatures` sketches each document for
  datasketch's MinHash LSH; the candidate pairs it returns are verified with exact Jaccard.

Normalisation is light on purpose: NFKC (full-width Ａ１，→ half-width A1,) and case folding, per
character, and whitespace dropped. Punctuation and wording stay, so different texts stay different.
A 4-gram of characters from the Basic Multilingual Plane (all of Chinese, Latin, digits and punctuation
in practice) packs exactly into one uint64 key, 16 bits a character; the rare character above it is
folded into the private-use range, where two of them may share a key.
"""

import unicodedata
from dataclasses import dataclass

import numpy as np

NGRAM = 4
_CHUNK_DOCS = 20_000  # documents per vectorised step of the build: bounds the temporary arrays
_SEPARATOR = 0x0A  # "\n": never left by normalisation, so it marks document boundaries in the joined text


class _NormalTable(dict):
    """``str.translate`` table that normalises one character on first sight and remembers it."""

    def __missing__(self, code: int) -> str:
        text = unicodedata.normalize("NFKC", chr(code)).casefold()
        value = "".join(char for char in text if not char.isspace())
        self[code] = value
        return value


_TABLE = _NormalTable()


def normalise(text: str) -> str:
    """NFKC + case folding per character, whitespace removed (what duplicates and shares are computed on)."""
    return text.translate(_TABLE)


def _codes(text: str) -> np.ndarray:
    """16-bit code of every character (characters above U+FFFF folded into the private-use area)."""
    codes = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
    codes = np.where(codes < 0x10000, codes, 0xE000 + codes % 0x1900)
    return codes.astype(np.uint64)


def _pack(codes: np.ndarray) -> np.ndarray:
    """The uint64 key of the 4-gram starting at each position (len(codes) - 3 keys)."""
    n = len(codes) - NGRAM + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    return (codes[:n] << 48) | (codes[1 : n + 1] << 32) | (codes[2 : n + 2] << 16) | codes[3 : n + 3]


def gram_keys(normalised: str) -> np.ndarray:
    """Sorted distinct 4-gram keys of an already normalised text."""
    return np.unique(_pack(_codes(normalised)))


def gram_count(normalised: str) -> int:
    return max(len(normalised) - NGRAM + 1, 0)


@dataclass
class Match:
    """The training document holding the largest share of one eval text's 4-grams."""

    doc: int  # -1: no document shares a 4-gram
    shared: int  # informative 4-grams of the eval text found in that document
    grams: int  # informative 4-grams of the eval text (the denominator of `share`)
    common: int  # 4-grams left out as boilerplate
    docs_over: int  # documents holding at least `share_floor` of the informative 4-grams
    keys: np.ndarray  # the informative 4-gram keys (what `shared` counts)

    @property
    def share(self) -> float:
        return self.shared / self.grams if self.grams else 0.0


class GramIndex:
    """Inverted index of the training documents' 4-grams, plus each document's own keys in text order."""

    def __init__(self, normalised: list[str]) -> None:
        self.n_docs = len(normalised)
        doc_keys, doc_ids = [], []
        for first in range(0, self.n_docs, _CHUNK_DOCS):
            keys, ids = self._chunk(normalised[first : first + _CHUNK_DOCS], first)
            doc_keys.append(keys)
            doc_ids.append(ids)
        self.keys = np.concatenate(doc_keys) if doc_keys else np.zeros(0, dtype=np.uint64)
        ids = np.concatenate(doc_ids) if doc_ids else np.zeros(0, dtype=np.int32)
        # keys[doc_start[i]:doc_start[i + 1]]: document i's 4-grams in text order (repeats kept)
        self.doc_start = np.searchsorted(ids, np.arange(self.n_docs + 1, dtype=np.int32))
        # Sorting (4-gram, document) pairs groups each 4-gram's documents. numpy sorts one uint64 array about
        # 3x faster than it argsorts one, so a pair is packed into one number: the document in the low
        # `doc_bits`, a (64 - doc_bits)-bit hash of the 4-gram above it. With 100k documents 47 bits remain:
        # among 10 M distinct 4-grams about 0.35 pairs share a hash, which could add one 4-gram to a count
        # that picks the best document; the share itself is recounted on the exact keys.
        self.doc_bits = max(self.n_docs.bit_length(), 1)
        packed = (self._hash(self.keys) << np.uint64(self.doc_bits)) | ids.astype(np.uint64)
        del ids
        packed.sort()
        packed = packed[np.r_[True, packed[1:] != packed[:-1]]] if len(packed) else packed  # one per pair
        self.postings = (packed & np.uint64((1 << self.doc_bits) - 1)).astype(np.int32)
        hashes = packed >> np.uint64(self.doc_bits)
        del packed
        first = np.flatnonzero(np.r_[True, hashes[1:] != hashes[:-1]]) if len(hashes) else np.zeros(0, np.int64)
        self.vocab = hashes[first]
        self.offsets = np.r_[first, len(hashes)].astype(np.int64)
        self.df = np.diff(self.offsets)

    def _hash(self, keys: np.ndarray) -> np.ndarray:
        """Fibonacci hashing: the top 64 - doc_bits bits of key * 2^64/phi, which depend on every bit of the key."""
        return (keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(self.doc_bits)

    @staticmethod
    def _chunk(texts: list[str], first: int) -> tuple[np.ndarray, np.ndarray]:
        """All 4-gram keys of some documents and the document of each, from one joined string."""
        codes = _codes("\n".join(texts))
        keys = _pack(codes)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        doc_of = np.repeat(np.arange(first, first + len(texts), dtype=np.int32), lengths + 1)[: len(keys)]
        valid = np.ones(len(keys), dtype=bool)
        for offset in range(NGRAM):  # a 4-gram that holds the separator spans two documents
            valid &= codes[offset : offset + len(keys)] != _SEPARATOR
        return keys[valid], doc_of[valid]

    def document_keys(self, doc: int) -> np.ndarray:
        return np.unique(self.keys[self.doc_start[doc] : self.doc_start[doc + 1]])

    def common_limit(self, common_gram_share: float) -> int:
        """Document frequency above which a 4-gram counts as boilerplate (at least 100 documents).

        The floor keeps small training sets whole: there, 1% is a handful of documents, and a passage copied
        into a few of them is what the check looks for, not boilerplate.
        """
        return max(int(common_gram_share * self.n_docs), 100) if common_gram_share < 1 else self.n_docs

    def best_match(self, keys: np.ndarray, common_limit: int, share_floor: float,
                   boilerplate: np.ndarray | None = None) -> Match:
        """The document holding most of ``keys`` (sorted distinct 4-gram keys of one eval text).

        4-grams in more than ``common_limit`` documents, or in the sorted ``boilerplate`` keys (a fixed
        instruction, a stock closing sentence), are left out of both counts, unless they make up over half of
        the text: then the text is mostly boilerplate, or copied all over the training set, and every 4-gram
        is counted.
        """
        if not len(keys) or not len(self.vocab):
            return Match(-1, 0, len(keys), 0, 0, keys)
        hashed = self._hash(keys)
        position = np.minimum(np.searchsorted(self.vocab, hashed), len(self.vocab) - 1)
        found = self.vocab[position] == hashed
        common = found & (self.df[position] > common_limit)
        if boilerplate is not None and len(boilerplate):
            common |= np.isin(keys, boilerplate, assume_unique=True)
        if 2 * int(common.sum()) > len(keys):
            common[:] = False
        used = position[found & ~common]
        grams, informative = len(keys) - int(common.sum()), keys[~common]
        if not len(used):
            return Match(-1, 0, grams, int(common.sum()), 0, informative)
        lengths, starts = self.df[used], self.offsets[used]
        # the posting slices of all used keys, gathered in one step: start of its slice + rank within it
        gather = np.arange(int(lengths.sum())) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        counts = np.bincount(self.postings[gather], minlength=self.n_docs)
        doc = int(counts.argmax())  # ties: the first document
        floor = max(int(np.ceil(share_floor * grams)), 1)
        shared = np.intersect1d(informative, self.document_keys(doc), assume_unique=True).size  # exact keys
        return Match(doc, shared, grams, int(common.sum()), int((counts >= floor).sum()), informative)


def original_span(text: str, keys: np.ndarray, max_gap: int = 3 * NGRAM) -> tuple[int, int] | None:
    """[start, end) in ``text`` (not normalised) of the densest run of 4-grams found in ``keys``.

    Matches less than ``max_gap`` characters apart form one run (a changed character breaks four 4-grams);
    the run with the most matches is where the evaluation text sits, not a phrase it shares further on.
    """
    normal, origin = [], []
    for index, char in enumerate(text):
        for out in _TABLE[ord(char)]:
            normal.append(out)
            origin.append(index)
    hits = np.flatnonzero(np.isin(_pack(_codes("".join(normal))), keys))
    if not len(hits):
        return None
    breaks = np.flatnonzero(np.diff(hits) > max_gap)
    starts, ends = np.r_[0, breaks + 1], np.r_[breaks + 1, len(hits)]
    best = int(np.argmax(ends - starts))
    return origin[int(hits[starts[best]])], origin[int(hits[ends[best] - 1]) + NGRAM - 1] + 1


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer: datasketch's affine32 scheme mixes every input hash with it."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def hash32(keys: np.ndarray) -> np.ndarray:
    """The 32-bit hash MinHash takes of a 4-gram: its 64-bit key folded (exact keys are used everywhere else)."""
    return ((keys ^ (keys >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def minhash_signatures(index: GramIndex, docs: np.ndarray, permutations: np.ndarray) -> np.ndarray:
    """MinHash of each listed document's 4-gram set: the values datasketch's ``MinHash(scheme="affine32")``
    computes with the 32-bit folded keys as hashes, for all documents in one vectorised pass per permutation
    (a Python loop over 25 M 4-grams, as ``MinHash.update_batch`` does, takes ~6x longer).

    ``permutations`` is ``MinHash(num_perm, scheme="affine32").permutations`` (rows a, b); ``docs`` are
    ascending document numbers, each with at least one 4-gram.
    """
    lengths = np.diff(index.doc_start)
    selected = np.zeros(index.n_docs, dtype=bool)
    selected[docs] = True
    keys = index.keys[np.repeat(selected, lengths)]
    segment = np.r_[0, np.cumsum(lengths[docs])[:-1]].astype(np.int64)
    hashed = _fmix32(hash32(keys))
    signatures = np.empty((len(docs), permutations.shape[1]), dtype=np.uint32)
    for column, (a, b) in enumerate(permutations.T):
        signatures[:, column] = np.minimum.reduceat(hashed * a + b, segment)  # uint32 arithmetic wraps: mod 2^32
    return signatures
