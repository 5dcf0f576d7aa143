"""Memorisation: the longest span of words a sample shares with any training record.

- Words: the lower-cased TweetTokenizer tokens every text metric uses (``diversity.tokenize``) that hold
  a letter or digit (``diversity.words_of``), so punctuation neither makes nor breaks a copy.
- A span: consecutive words. The longest shared span of a sample is the longest common substring, in
  words, of the sample and any one training record (the text after ``\\author- ``); it never crosses
  two records.
- Copied: a shared span of ``COPY_SPAN_WORDS`` (8) words or more, or the whole sample when it has
  fewer words (and at least one).

The index is a suffix array over the training split's words: every record's word ids, each record
followed by a separator id unique to it (so no match runs into the next record), sorted by suffix. The
longest match starting at word i of a sample is found by a binary search of the sample's words from i
among the sorted suffixes: the suffix sharing the longest prefix with it sits beside its insertion
point. Word ids are stored as big-endian 4-byte codes, so comparing two byte strings compares the word
sequences, and the search runs in C (``bisect`` over a sequence view). It is built once per training
file (keyed by the sha256 of its bytes) and cached under ``$TWEETSMITH_HOME/memorisation/``. The words
come from ``memorisation_words``, the sorting from ``suffix_array``.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import shutil
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tweetsmith.data.records import parse_line, read_split_lines
from tweetsmith.data.split import SplitDir

from .memorisation_words import span_words, span_words_of_records, word_offsets
from .progress import Progress, ProgressFn
from .suffix_array import SortedSuffixes, suffix_array

if TYPE_CHECKING:
    from .results import MemorisationSummary

COPY_SPAN_WORDS = 8
INDEX_VERSION = 1
_WORD = np.dtype(">u4")  # big-endian: byte order == numeric order, so bytes compare like word sequences
_UNKNOWN = 0  # id of a sample word the training split never uses: matches nothing
STAGE = "indexing train.txt"  # what the progress events call building the index


def is_copied(longest_span_words: int, sample_words: int, threshold: int = COPY_SPAN_WORDS) -> bool:
    """Copied: a shared span of ``threshold`` words or more, or the whole (non-empty) sample when shorter."""
    if sample_words == 0:
        return False
    return longest_span_words >= min(threshold, sample_words)


@dataclass(frozen=True)
class SpanMatch:
    """The longest span of words a sample shares with one training record."""

    sample_words: int  # words in the sample
    words: int  # length of the longest shared span, in words (0: no word in common)
    start: int  # index of the span's first word in the sample
    span: str  # the span's words, joined by spaces
    record: int | None  # index of the training record holding it (non-empty lines of train.txt, from 0)
    record_text: str | None  # that record's line, ``\\author- text``
    copied: bool
    char_start: int | None = None  # where the span lies in the sample's text (None if the words can't be placed)
    char_end: int | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def longest_common_span(a: Sequence[str], b: Sequence[str]) -> tuple[int, int]:
    """(length, start in ``a``) of the longest run of consecutive items shared by ``a`` and ``b`` (plain DP)."""
    best, best_start = 0, 0
    previous = [0] * (len(b) + 1)
    for i, x in enumerate(a):
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                current[j + 1] = previous[j] + 1
                if current[j + 1] > best:
                    best, best_start = current[j + 1], i - current[j + 1] + 1
        previous = current
    return best, best_start


class MemorisationIndex:
    """The training split's words, searchable for the longest span a text shares with any record."""

    def __init__(
        self,
        vocab: dict[str, int],
        corpus: bytes,
        sa,
        record_starts: np.ndarray,
        record_lines: Callable[[int], str],
        *,
        records: int,
        source: str = "<lines>",
        build_seconds: float = 0.0,
    ):
        self.vocab, self.corpus, self.record_starts = vocab, corpus, record_starts
        self._sa = (
            np.ascontiguousarray(sa, dtype=np.uint32).data.cast("B").cast("I") if not isinstance(sa, memoryview) else sa
        )
        self._record_lines = record_lines
        self.records, self.source, self.build_seconds = records, source, build_seconds

    # --- building ------------------------------------------------------------------------------

    @staticmethod
    def _arrays(texts: Iterable[str], total: int, on_progress: ProgressFn | None):
        vocab: dict[str, int] = {}
        ids = array("q")  # compact: a million tweets are ~16M words
        starts = array("q")
        separators = array("q")
        for r, words in enumerate(span_words_of_records(texts, total)):
            starts.append(len(ids))
            for word in words:
                wid = vocab.get(word)
                if wid is None:
                    wid = vocab[word] = len(vocab) + 1
                ids.append(wid)
            separators.append(len(ids))
            ids.append(-1)  # this record's separator, numbered once the vocabulary is known
            if on_progress and (r + 1) % 10_000 == 0:
                on_progress(Progress(f"{STAGE} (tokenizing)", r + 1, total, "records"))
        corpus = np.frombuffer(ids, dtype=np.int64).copy()
        # Separator of record r: V + 1 + r, above every word id and unique, so no match crosses it.
        corpus[np.frombuffer(separators, dtype=np.int64)] = len(vocab) + 1 + np.arange(len(separators), dtype=np.int64)
        if len(vocab) + 1 + len(separators) >= 2**32:
            raise ValueError("too many words and records for 32-bit word ids")
        return vocab, corpus, np.frombuffer(starts, dtype=np.int64).copy()

    @classmethod
    def build(
        cls, lines: Sequence[str], *, source: str = "<lines>", on_progress: ProgressFn | None = None
    ) -> MemorisationIndex:
        """An in-memory index of ``lines`` (line format; the author prefix is not part of a record's words)."""
        began = time.perf_counter()
        lines = list(lines)
        vocab, corpus, starts = cls._arrays((parse_line(line).text for line in lines), len(lines), on_progress)
        if on_progress:
            on_progress(Progress(f"{STAGE} (sorting)", 0, 1))
        sa = suffix_array(corpus)
        if on_progress:
            on_progress(Progress(f"{STAGE} (sorting)", 1, 1))
        return cls(
            vocab,
            corpus.astype(_WORD).tobytes(),
            sa,
            starts,
            lines.__getitem__,
            records=len(lines),
            source=source,
            build_seconds=time.perf_counter() - began,
        )

    # --- searching -----------------------------------------------------------------------------

    def _longest_at(self, query: bytes) -> tuple[int, int]:
        """(words, corpus position) of the longest prefix of ``query`` found among the suffixes."""
        suffixes = SortedSuffixes(self.corpus, self._sa, len(query))
        index = bisect.bisect_left(suffixes, query)
        best, best_pos = 0, -1
        for j in (index - 1, index):
            if 0 <= j < len(suffixes):
                pos = self._sa[j]
                candidate = self.corpus[4 * pos : 4 * pos + len(query)]
                common = len(os.path.commonprefix([candidate, query])) // 4
                if common > best:
                    best, best_pos = common, pos
        return best, best_pos

    def record_of(self, position: int) -> int:
        """The record that corpus word ``position`` belongs to."""
        return int(np.searchsorted(self.record_starts, position, side="right")) - 1

    def record_text(self, record: int) -> str:
        return self._record_lines(record)

    def match(self, text: str, threshold: int = COPY_SPAN_WORDS) -> SpanMatch:
        """The longest span of ``text``'s words shared with a training record (see the module docstring)."""
        words = span_words(text)
        ids = [self.vocab.get(w, _UNKNOWN) for w in words]
        encoded = np.array(ids, dtype=_WORD).tobytes()
        m = len(ids)
        best, best_start, best_pos = 0, 0, -1
        for i in range(m):
            if m - i <= best:
                break  # a match from here on can't be longer
            if ids[i] == _UNKNOWN:
                continue
            length, pos = self._longest_at(encoded[4 * i :])
            if length > best:
                best, best_start, best_pos = length, i, pos
        record = self.record_of(best_pos) if best else None
        char_start = char_end = None
        if best:
            offsets = word_offsets(text, words)
            first, last = offsets[best_start], offsets[best_start + best - 1]
            if first is not None and last is not None:
                char_start, char_end = first[0], last[1]
        return SpanMatch(
            sample_words=m,
            words=best,
            start=best_start,
            span=" ".join(words[best_start : best_start + best]),
            record=record,
            record_text=self.record_text(record) if record is not None else None,
            copied=is_copied(best, m, threshold),
            char_start=char_start,
            char_end=char_end,
        )

    def match_many(self, texts: Iterable[str], threshold: int = COPY_SPAN_WORDS) -> list[SpanMatch]:
        return [self.match(t, threshold) for t in texts]

    # --- the on-disk cache -----------------------------------------------------------------------

    def save(self, folder: Path, line_offsets: np.ndarray, meta: dict) -> None:
        """Write the index into ``folder`` atomically (a temp folder renamed into place)."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        try:
            words = [""] * len(self.vocab)
            for word, wid in self.vocab.items():
                words[wid - 1] = word
            (tmp / "vocab.json").write_text(json.dumps(words, ensure_ascii=False), encoding="utf-8")
            (tmp / "corpus.bin").write_bytes(self.corpus)
            np.save(tmp / "sa.npy", np.frombuffer(self._sa, dtype=np.uint32))
            np.save(tmp / "starts.npy", self.record_starts)
            np.save(tmp / "lines.npy", line_offsets)
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
            try:
                os.replace(tmp, folder)
            except OSError:  # another process got there first: theirs is the same index
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, folder: Path, train_file: Path) -> MemorisationIndex:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        words = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        vocab = {w: i + 1 for i, w in enumerate(words)}
        sa = np.load(folder / "sa.npy", mmap_mode="r")
        offsets = np.load(folder / "lines.npy")
        return cls(
            vocab,
            (folder / "corpus.bin").read_bytes(),
            memoryview(sa).cast("B").cast("I"),
            np.load(folder / "starts.npy"),
            _LineReader(train_file, offsets),
            records=int(meta["records"]),
            source=str(train_file),
            build_seconds=float(meta.get("build_seconds", 0.0)),
        )


class _LineReader:
    """A training record's line read from the file by its byte offsets (the index keeps no text)."""

    def __init__(self, path: Path, offsets: np.ndarray):
        self.path, self.offsets = path, offsets

    def __call__(self, record: int) -> str:
        start, end = (int(x) for x in self.offsets[record])
        with open(self.path, "rb") as f:
            f.seek(start)
            return f.read(end - start).decode("utf-8").rstrip("\r")


def _line_offsets(raw: bytes) -> np.ndarray:
    """(start, end) byte offsets of the lines ``read_split_lines`` keeps (the non-blank ones), in order."""
    offsets, pos = [], 0
    for line in raw.split(b"\n"):
        if line.strip():
            offsets.append((pos, pos + len(line)))
        pos += len(line) + 1
    return np.array(offsets, dtype=np.int64).reshape(-1, 2)


def cache_root() -> Path:
    from .paths import home

    return home() / "memorisation"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def index_for_data(
    data_dir: str | Path, *, cache: Path | None = None, on_progress: ProgressFn | None = None
) -> MemorisationIndex:
    """The index of ``data_dir/train.txt``: loaded from the cache, or built and cached (keyed by the file's sha256).

    A cache that can't be written (read-only home) costs a rebuild next time, nothing else.
    """
    train = SplitDir(data_dir).train
    if not train.is_file():
        read_split_lines(train)  # raises DataError naming the fix
    raw = train.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    folder = (cache or cache_root()) / f"{digest[:24]}-v{INDEX_VERSION}"
    if (folder / "meta.json").is_file():
        return MemorisationIndex.load(folder, train)
    lines = read_split_lines(train)  # DataError for a file that is not UTF-8
    index = MemorisationIndex.build(lines, source=str(train), on_progress=on_progress)
    offsets = _line_offsets(raw)
    index._record_lines = _LineReader(train, offsets)
    meta = {
        "version": INDEX_VERSION,
        "source": str(train),
        "sha256": digest,
        "records": index.records,
        "words": len(index.corpus) // 4 - index.records,
        "vocabulary": len(index.vocab),
        "build_seconds": index.build_seconds,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    try:
        index.save(folder, offsets, meta)
    except OSError:
        pass
    return index


# --- summaries ---------------------------------------------------------------------------------------


def copied_share(matches: Sequence[SpanMatch]) -> float | None:
    """Share of samples that are copied (None for no samples)."""
    return sum(m.copied for m in matches) / len(matches) if matches else None


def summarize(matches: Sequence[SpanMatch], *, worst: int = 5) -> MemorisationSummary:
    """The share of copied samples, the distribution of longest spans and the worst cases."""
    from .results import MemorisationSummary

    lengths = [m.words for m in matches]
    histogram: dict[int, int] = {}
    for n in sorted(lengths):
        histogram[n] = histogram.get(n, 0) + 1
    ranked = sorted(range(len(matches)), key=lambda i: (-matches[i].words, -matches[i].copied, i))
    return MemorisationSummary(
        samples=len(matches),
        copied=sum(m.copied for m in matches),
        copied_share=copied_share(matches),
        copy_span_words=COPY_SPAN_WORDS,
        span_mean=float(np.mean(lengths)) if lengths else None,
        span_median=float(np.median(lengths)) if lengths else None,
        span_max=max(lengths) if lengths else None,
        histogram=histogram,
        worst=tuple((i, matches[i]) for i in ranked[:worst]),
    )
