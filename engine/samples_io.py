"""Samples on disk: JSONL (one Sample a line, with its config, model and seed) or plain text lines.

A text file holds one sample a line, in line format (``\\author- text``) or bare text; the author
prefix is split off before scoring. JSONL files are appended to a line at a time, never rewritten
(``engine.jsonl``); a torn last line is left out when read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tweetsmith.data.errors import DataError
from tweetsmith.data.records import Record, format_line, parse_line, read_split_lines

from .sample_record import Sample


@dataclass(frozen=True)
class ScoredText:
    """What the metrics need of a sample: its author and the text to score."""

    author: str
    text: str


def save_samples(samples: Iterable[Sample], path: str | Path) -> Path:
    """Append samples to a JSONL file (created with its folder if missing); returns the path.

    Appending writes the new lines only (``engine.jsonl``): the file is never rewritten, so a crash can
    cut at most the line being written, which reading leaves out. A file that is not a samples file is
    refused before anything is written (``check_samples_out``)."""
    from .jsonl import append_jsonl

    check_samples_out(path, force=False)
    return append_jsonl(path, [s.to_dict() for s in samples])


def replace_samples(samples: Iterable[Sample], path: str | Path) -> Path:
    """Write samples as a new JSONL file over whatever ``path`` held (``--force``), atomically."""
    from .runs import write_text_atomic

    write_text_atomic(path, "".join(json.dumps(s.to_dict(), ensure_ascii=False) + "\n" for s in samples))
    return Path(path)


def is_samples_file(path: str | Path) -> bool:
    """Whether ``path`` is a JSONL file whose first line is a sample (``save_samples`` appends to it)."""
    path = Path(path)
    return path.suffix == ".jsonl" and path.is_file() and _starts_with_a_sample(path)


def check_samples_out(path: str | Path, *, force: bool) -> None:
    """Refuse, with one line, an ``--out`` that would replace or corrupt a file tweetsmith did not write.

    A ``.jsonl`` file is appended to when its first line is a sample (``tweetsmith sample`` wrote it); any
    other existing file (a text file of samples included: it would be replaced) needs ``force``."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"--out {path} is a directory; give a file name (.jsonl keeps each sample's settings)")
    if not path.exists() or force:
        return
    if path.suffix == ".jsonl" and _starts_with_a_sample(path):
        return
    raise DataError(
        f"--out {path} exists and was not written by `tweetsmith sample`"
        f"{'' if path.suffix == '.jsonl' else ' (a text file is replaced, not appended to)'}; "
        "choose another file, or pass --force to replace it"
    )


def _starts_with_a_sample(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as f:
            first = f.readline()
        if not first.strip():
            return path.stat().st_size == len(first.encode())  # an empty file: nothing to lose
        record = json.loads(first)
        return isinstance(record, dict) and {"author", "prompt", "text", "seed", "config"} <= record.keys()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError, ValueError, AttributeError, KeyError):
        return False


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
    from .jsonl import BrokenJsonLines, read_jsonl_records

    try:
        records = read_jsonl_records(path)  # a torn last line (an interrupted append) is left out, with a notice
    except BrokenJsonLines as err:
        raise DataError(f"{err}; give a file written by `tweetsmith sample`") from None
    samples = []
    for number, record in enumerate(records, 1):
        try:
            samples.append(Sample.from_dict(record))
        except (TypeError, ValueError, AttributeError, KeyError) as err:
            raise DataError(
                f"{path}: sample {number} is not a sample ({err}); give a file written by `tweetsmith sample`"
            ) from None
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
