"""The suffix array behind the memorisation index, and the sorted view ``bisect`` searches.

Apart from the index (``memorisation``) because it is plain array work with nothing of tweets in it:
``suffix_array`` sorts the suffixes of a sequence of word ids, ``SortedSuffixes`` shows them as byte
strings cut to a query's width, so the binary search runs in C.
"""

from __future__ import annotations

import numpy as np


def suffix_array(ids: np.ndarray) -> np.ndarray:
    """Start positions of the suffixes of ``ids`` in lexicographic order (prefix doubling, numpy sorts).

    Rounds double the compared prefix until every rank is unique; with a unique separator after each
    record that takes ~log2(longest record) rounds.
    """
    n = len(ids)
    if n == 0:
        return np.zeros(0, dtype=np.uint32)
    _, rank = np.unique(ids, return_inverse=True)
    rank = rank.astype(np.int64)
    k = 1
    while True:
        second = np.zeros(n, dtype=np.int64)
        second[: n - k] = rank[k:] + 1  # 0: past the end, which sorts first
        key = rank * (n + 1) + second
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        new_rank = np.empty(n, dtype=np.int64)
        new_rank[order] = np.concatenate(([0], np.cumsum(sorted_key[1:] != sorted_key[:-1])))
        rank = new_rank
        if rank.max() == n - 1 or k >= n:
            return order.astype(np.uint32)
        k *= 2


class SortedSuffixes:
    """The sorted suffixes as a read-only sequence of byte strings, each cut to ``width`` bytes (for
    bisect). One per query, so threads can search the same index at once."""

    __slots__ = ("corpus", "sa", "width")

    def __init__(self, corpus: bytes, sa, width: int):
        self.corpus, self.sa, self.width = corpus, sa, width

    def __len__(self) -> int:
        return len(self.sa)

    def __getitem__(self, j: int) -> bytes:
        start = 4 * self.sa[j]
        return self.corpus[start : start + self.width]
