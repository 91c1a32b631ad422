"""Duplicates within a training set: identical documents, and near copies found with datasketch's MinHash LSH.

Exact duplicates are documents whose normalised text (``ngrams.normalise``) is identical. Near duplicates are
pairs whose 4-gram sets have a Jaccard similarity of at least the threshold; counting every pair is quadratic,
so MinHash LSH proposes candidates and each is verified with the exact Jaccard of the two sets. The LSH bands
are chosen by datasketch for the threshold with false negatives weighted 19:1 over false positives: a false
positive only costs one exact comparison, a false negative is a duplicate nobody sees (with 128 permutations
a pair at the threshold becomes a candidate with probability 0.95, a pair 0.05 above it with 0.99).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .ngrams import GramIndex, minhash_signatures

NUM_PERM = 128
SEED = 1
LSH_WEIGHTS = (0.05, 0.95)  # (false positive, false negative)


@dataclass
class NearGroup:
    """Training documents linked by near-duplicate pairs; ``links`` is (document, matched earlier one, Jaccard)."""

    members: list[int]
    links: list[tuple[int, int, float]] = field(default_factory=list)


def exact_duplicates(normalised: list[str]) -> list[list[int]]:
    """Groups (first document first) of non-empty documents whose normalised texts are identical."""
    first: dict[str, int] = {}
    groups: dict[int, list[int]] = {}
    for doc, text in enumerate(normalised):
        if text:
            head = first.setdefault(text, doc)
            if head != doc:
                groups.setdefault(head, [head]).append(doc)
    return [groups[head] for head in sorted(groups)]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted arrays of distinct keys."""
    shared = np.intersect1d(a, b, assume_unique=True).size
    union = len(a) + len(b) - shared
    return shared / union if union else 0.0


def near_duplicates(index: GramIndex, docs: list[int], threshold: float) -> list[NearGroup]:
    """Groups of ``docs`` (ascending document numbers, each with 4-grams) linked by Jaccard >= ``threshold``.

    One pass: each document is queried against the documents before it, then inserted. A candidate already in
    the document's group is skipped, so a cluster of a thousand copies costs a thousand verifications, not a
    million; every group is therefore a spanning tree of verified links.
    """
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    if len(docs) < 2:
        return []
    permutations = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32").permutations
    signatures = minhash_signatures(index, np.asarray(docs, dtype=np.int64), permutations)
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, weights=LSH_WEIGHTS)
    keys: Callable[[int], np.ndarray] = lru_cache(maxsize=8192)(index.document_keys)
    parent: dict[int, int] = {}

    def root(doc: int) -> int:
        while parent.get(doc, doc) != doc:
            parent[doc] = parent.get(parent[doc], parent[doc])  # path halving
            doc = parent[doc]
        return doc

    links: list[tuple[int, int, float]] = []
    for row, doc in enumerate(docs):
        sketch = LeanMinHash(seed=SEED, hashvalues=signatures[row], scheme="affine32")
        for other in sorted(lsh.query(sketch)):
            if root(other) == root(doc):
                continue
            similarity = jaccard(keys(doc), keys(other))
            if similarity >= threshold:
                parent[root(doc)] = root(other)
                links.append((doc, other, similarity))
        lsh.insert(doc, sketch, check_duplication=False)
    groups: dict[int, NearGroup] = {}
    for doc, other, similarity in links:
        group = groups.setdefault(root(doc), NearGroup([]))
        group.links.append((doc, other, similarity))
    for group in groups.values():
        group.members = sorted({doc for link in group.links for doc in link[:2]})
    return sorted(groups.values(), key=lambda group: group.members[0])
