"""Records to token ids: every record is its line followed by the end-of-text token.

Training (packing), perplexity and the benchmarks all tokenize through here, so "a record" means the
same thing everywhere. No special tokens are added (no BOS): the end-of-text token separates records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def encode_records(tokenizer, lines: Sequence[str], eot_id: int, *, batch_size: int = 1000) -> list[list[int]]:
    """Token ids of each line with ``eot_id`` appended (fast tokenizers run in batches)."""
    encoded: list[list[int]] = []
    for start in range(0, len(lines), batch_size):
        batch = list(lines[start : start + batch_size])
        ids = tokenizer(batch, add_special_tokens=False)["input_ids"]
        encoded.extend(row + [eot_id] for row in ids)
    return encoded


def concat(token_lists: Iterable[list[int]]) -> list[int]:
    """The concatenation of records' token ids (the stream perplexity and packing work on)."""
    out: list[int] = []
    for ids in token_lists:
        out.extend(ids)
    return out
