"""The words a memorisation span is made of, and where they sit in a text.

Apart from the index (``memorisation``) because it is the tokenizing half: the same words for a training
record and a sample, a big split tokenized in worker processes (nltk's TweetTokenizer is ~0.3 ms a
tweet), and a span's words placed back in the sample's text so the app can mark them.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Iterator, Sequence

# Every alternative of nltk's EMOTICON_RE needs eyes [:;=8] or a heart "<3": a token with none of these
# characters is lower-cased by TweetTokenizer(preserve_case=False), so only those few need the regex.
_MAYBE_EMOTICON = re.compile(r"[:;=8<]").search
_HAS_ALNUM = re.compile(r"[^\W_]").search  # == any(ch.isalnum() for ch in token)


@functools.lru_cache(maxsize=1)
def _cased_tokenizer():
    from nltk.tokenize import TweetTokenizer
    from nltk.tokenize.casual import EMOTICON_RE

    return TweetTokenizer(preserve_case=True), EMOTICON_RE


def span_words(text: str) -> list[str]:
    """The words spans are made of: ``words_of(tokenize(text))`` (see ``memorisation``), computed
    ~1.6x faster by checking only tokens that could be emoticons (the index tokenizes every record)."""
    tokenizer, emoticon = _cased_tokenizer()
    out = []
    for token in tokenizer.tokenize(text):
        if _HAS_ALNUM(token):
            out.append(token if _MAYBE_EMOTICON(token) and emoticon.search(token) else token.lower())
    return out


PARALLEL_MIN_RECORDS = 200_000  # below this, starting worker processes costs more than it saves
_CHUNK_RECORDS = 20_000


def _span_words_chunk(texts: list[str]) -> list[list[str]]:
    return [span_words(t) for t in texts]


def span_words_of_records(texts: Iterable[str], total: int) -> Iterator[list[str]]:
    """``span_words`` of each text, in order; a large split is tokenized in worker processes (the
    tokenizer is ~0.3 ms a tweet, so a million tweets take minutes on one core)."""
    workers = min(os.cpu_count() or 1, 8)
    if total < PARALLEL_MIN_RECORDS or workers < 2:
        yield from (span_words(t) for t in texts)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    texts = list(texts)
    chunks = [texts[i : i + _CHUNK_RECORDS] for i in range(0, len(texts), _CHUNK_RECORDS)]
    done = 0
    try:
        # spawn, not fork: the caller may hold threads (the app) or torch state that forking would copy.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for words in pool.map(_span_words_chunk, chunks):
                yield from words
                done += 1
    except (BrokenProcessPool, OSError):  # workers can't start (e.g. a __main__ read from stdin): go on here
        pass
    for chunk in chunks[done:]:
        yield from _span_words_chunk(chunk)


def word_offsets(text: str, words: Sequence[str]) -> list[tuple[int, int] | None]:
    """Character span of each word token in ``text`` (searched in order, case-insensitively)."""
    lower = text.lower()
    out: list[tuple[int, int] | None] = []
    pos = 0
    for word in words:
        found = lower.find(word.lower(), pos) if len(lower) == len(text) else -1
        if found < 0:
            out.append(None)
            continue
        out.append((found, found + len(word)))
        pos = found + len(word)
    return out
