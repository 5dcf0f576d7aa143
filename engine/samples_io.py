"""Samples on disk: JSONL (one Sample a line, with its config, model and seed) or plain text lines.

A text file holds one sample a line, in line format (``\\author- text``) or bare text; the author
prefix is split off before scoring. JSONL files are appended to by rewriting them atomically (temp
file + rename), so a crash never leaves half a line.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from tweetsmith.data.errors import DataError
from tweetsmith.data.records import Record, format_line, parse_line, read_split_lines

from .generate import Sample


@dataclass(frozen=True)
class ScoredText:
    """What the metrics need of a sample: its author and the text to score."""

    author: str
    text: str


def save_samples(samples: Iterable[Sample], path: str | Path) -> Path:
    """Append samples to a JSONL file (created with its folder if missing); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    new = "".join(json.dumps(s.to_dict(), ensure_ascii=False) + "\n" for s in samples)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(old + new)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_sample_lines(samples: Sequence[Sample], path: str | Path) -> Path:
    """Write samples as a text file in line format (``\\author- text``), one a line, atomically."""
    from .runs import write_text_atomic

    write_text_atomic(path, "".join(format_line(Record(s.author, s.full_text)) + "\n" for s in samples))
    return Path(path)


def load_samples(path: str | Path) -> list[Sample]:
    """The samples of a JSONL file written by ``save_samples``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such samples file; make one with `tweetsmith sample --out {path}`")
    samples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            samples.append(Sample.from_dict(json.loads(line)))
        except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as err:
            raise DataError(f"{path}:{number}: not a sample JSON line ({err}); give a file written by `tweetsmith sample`") from None
    return samples


def read_scored_texts(path: str | Path) -> list[ScoredText]:
    """Samples to score from a JSONL samples file (the generated text) or a text file (prefix stripped)."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return [ScoredText(s.author, s.text) for s in load_samples(path)]
    records = [parse_line(line) for line in read_split_lines(path)]
    return [ScoredText(r.author, r.text) for r in records]


def new_samples_path(folder: str | Path, label: str) -> Path:
    """A fresh file name under ``folder`` (e.g. RUN/samples/tuned-t0.9-20250101-120000.jsonl)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label)
    path = Path(folder) / f"{safe}-{stamp}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = Path(folder) / f"{safe}-{stamp}-{n}.jsonl"
    return path
