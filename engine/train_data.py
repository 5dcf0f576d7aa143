"""Training data: split files -> token ids (once, cached in the run dir) -> packed blocks or padded records.

Every record is its line plus the end-of-text token (``encoding.encode_records``). ``--pack``:

- ``concat`` (packed, the default): the token stream is cut into blocks of ``block_size`` tokens, as
  run_clm's ``group_texts`` does, so no compute goes to padding; the tail shorter than a block is dropped.
  A record sees the records before it in its block, often by the same author.
- ``isolated``: the same blocks, but each record attends only to itself (``IsolatingCollator``): a 4-D
  block-diagonal causal mask and positions that restart at each record, so training sees what the chat
  does when it writes one tweet after nothing but end-of-text (positions alone do not isolate records
  under SDPA: LIBRARIES.md).
- ``off``: each record is one example (cut to ``block_size``), padded to the longest in its batch with a
  pad id distinct from end-of-text; the loss ignores padding through labels built from the attention
  mask, and the end-of-text token stays a target, so the model learns to stop.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tweetsmith.data.records import read_split_lines
from tweetsmith.data.split import SplitDir

from .encoding import encode_records
from .errors import TrainingError

IGNORE_INDEX = -100  # labels with this value are not predicted (PyTorch's cross-entropy default)


@dataclass(frozen=True)
class Splits:
    train: list[str]
    valid: list[str]
    data_dir: str


def read_splits(data_dir: str | os.PathLike) -> Splits:
    """The train and valid lines of a data dir in line format; a missing or empty split is a TrainingError."""
    if not str(data_dir):
        raise TrainingError(
            "no data given: pass --data DIR, a folder with train.txt and valid.txt (`tweetsmith prepare` makes one)"
        )
    directory = Path(data_dir).expanduser()
    if not directory.is_dir():
        raise TrainingError(f"{directory}: no such data directory; pass --data DIR with train.txt and valid.txt")
    splits, files = {}, SplitDir(directory)
    for name in ("train", "valid"):
        path = files.path(name)
        if not path.is_file():
            raise TrainingError(f"{directory} has no {path.name}; run `tweetsmith prepare` to make the splits")
        lines = read_split_lines(path)
        if not lines:
            raise TrainingError(f"{path} is empty; it needs at least one record (one line)")
        splits[name] = lines
    return Splits(train=splits["train"], valid=splits["valid"], data_dir=str(directory.resolve()))


@dataclass(frozen=True)
class EncodedRecords:
    """Token ids of records, flat: record i is ``ids[offsets[i]:offsets[i + 1]]`` (each ends with end-of-text)."""

    ids: np.ndarray  # int32
    offsets: np.ndarray  # int64, len = records + 1

    @property
    def records(self) -> int:
        return len(self.offsets) - 1

    @property
    def tokens(self) -> int:
        return int(self.offsets[-1])

    def record(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash that changes when the tokenizer would encode text differently."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def encode_cached(
    tokenizer, lines: Sequence[str], eot_id: int, *, cache_dir: Path | None, name: str, write: bool = True
) -> EncodedRecords:
    """Encode ``lines`` once; later runs (and resumes) read the cached arrays from ``cache_dir``.

    The cache file is named by a hash of the text, the tokenizer and the end-of-text id, so a changed
    split or model never reads stale ids. Only the writing process (rank 0) writes, atomically.
    """
    key = hashlib.sha256()
    key.update(tokenizer_fingerprint(tokenizer).encode())
    key.update(f"|eot={eot_id}|".encode())
    for line in lines:
        key.update(line.encode("utf-8"))
        key.update(b"\n")
    path = cache_dir / f"{name}-{key.hexdigest()[:20]}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            with np.load(path) as cached:
                return EncodedRecords(ids=cached["ids"], offsets=cached["offsets"])
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below
    encoded = encode_records(tokenizer, list(lines), eot_id)
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in encoded], out=offsets[1:])
    ids = np.fromiter((t for r in encoded for t in r), dtype=np.int32, count=int(offsets[-1]))
    result = EncodedRecords(ids=ids, offsets=offsets)
    if path is not None and write:
        _save_npz_atomic(path, ids=ids, offsets=offsets)
    return result


def _save_npz_atomic(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class BlockDataset:
    """Packed blocks: each item is ``block_size`` consecutive tokens of the record stream."""

    def __init__(self, blocks):
        self.blocks = blocks  # LongTensor [n_blocks, block_size]

    def __len__(self) -> int:
        return int(self.blocks.shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.blocks[i]}


class RecordDataset:
    """One record per item, cut to ``block_size`` tokens."""

    def __init__(self, encoded: EncodedRecords, block_size: int):
        self.encoded, self.block_size = encoded, block_size

    def __len__(self) -> int:
        return self.encoded.records

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        return {"input_ids": torch.from_numpy(self.encoded.record(i)[: self.block_size].astype(np.int64))}


@dataclass(frozen=True)
class Collator:
    """Batches examples: padded rows get ``pad_id`` and label -100; every real token (end-of-text too) is a target.

    Labels come from the attention mask, never from comparing ids with the pad id, so a real token that
    equals the pad id would still be learned (see LIBRARIES.md on DataCollatorForLanguageModeling).
    """

    pad_id: int

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        rows = [e["input_ids"] for e in examples]
        width = max(len(r) for r in rows)
        if all(len(r) == width for r in rows):
            input_ids = torch.stack(list(rows))
            # No mask for full rows: the attention takes its fast causal path.
            return {"input_ids": input_ids, "labels": input_ids.clone()}
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = row
            attention_mask[i, : len(row)] = 1
        labels = input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


@dataclass(frozen=True)
class IsolatingCollator:
    """Packed blocks in which every record attends only to itself, as if it were scored alone.

    A record's segment starts at the end-of-text token before it (the one closing the previous record),
    which is exactly the chat's context: ``<eot>\\author- ...``. So the end-of-text is predicted from the
    record it closes, the record's first token from that end-of-text alone, and no prediction crosses a
    record boundary: every token stays a target and each record's loss is its per-record ("cold") NLL. A
    block's first segment may be the tail of a record cut by the block boundary, as with ``concat``.
    """

    eot_id: int

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        input_ids = torch.stack([e["input_ids"] for e in examples])
        return {"input_ids": input_ids, "labels": input_ids.clone(), **isolation_inputs(input_ids, self.eot_id)}


def isolation_inputs(input_ids, eot_id: int) -> dict[str, Any]:
    """``attention_mask`` (batch, 1, L, L) bool, block-diagonal and causal, and ``position_ids`` restarting
    at 0 on each end-of-text: the segments of ``IsolatingCollator``."""
    import torch

    batch, length = input_ids.shape
    segment = torch.cumsum((input_ids == eot_id).long(), dim=1)  # an end-of-text starts a segment
    index = torch.arange(length).expand(batch, length)
    starts = torch.ones_like(input_ids, dtype=torch.bool)
    starts[:, 1:] = segment[:, 1:] != segment[:, :-1]
    position_ids = index - torch.cummax(torch.where(starts, index, torch.zeros_like(index)), dim=1).values
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    mask = (segment[:, :, None] == segment[:, None, :]) & causal
    return {"attention_mask": mask[:, None], "position_ids": position_ids}


PACK_MODES = ("concat", "isolated", "off")


@dataclass(frozen=True)
class TrainData:
    dataset: Any
    collator: Collator | IsolatingCollator
    examples: int
    useful_tokens: int  # non-pad tokens in one epoch
    block_size: int
    pack: str  # one of PACK_MODES


def pack_mode(value: str | bool) -> str:
    """``--pack``'s value; run records written before it had modes hold True (concat) or False (off)."""
    if isinstance(value, bool):
        return "concat" if value else "off"
    return value


def build_train_data(
    encoded: EncodedRecords, *, block_size: int, pack: str | bool, pad_id: int, eot_id: int | None = None
) -> TrainData:
    """Packed blocks (concat, isolated) or one padded record per example, with a clear error when too short."""
    import torch

    pack = pack_mode(pack)
    if pack not in PACK_MODES:
        raise TrainingError(f"--pack {pack!r}: choose one of {', '.join(PACK_MODES)}")
    if pack != "off":
        n_blocks = encoded.tokens // block_size
        if n_blocks == 0:
            raise TrainingError(
                f"the train split has {encoded.tokens} tokens, fewer than one block of {block_size}: "
                f"use --block-size {max(8, encoded.tokens // 2)}, --pack off, or more data"
            )
        collator: IsolatingCollator | Collator = Collator(pad_id)
        if pack == "isolated":
            if eot_id is None:
                raise ValueError("isolated packing needs the end-of-text id")
            collator = IsolatingCollator(eot_id)
        blocks = torch.from_numpy(encoded.ids[: n_blocks * block_size].astype(np.int64)).view(n_blocks, block_size)
        return TrainData(BlockDataset(blocks), collator, n_blocks, n_blocks * block_size, block_size, pack)
    lengths = np.diff(encoded.offsets)
    useful = int(np.minimum(lengths, block_size).sum())
    return TrainData(RecordDataset(encoded, block_size), Collator(pad_id), encoded.records, useful, block_size, "off")
