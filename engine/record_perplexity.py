"""Per-record ("cold") perplexity: what the chat faces when it writes one tweet.

Each record is scored alone, after nothing but the end-of-text token: exp(sum of the negative
log-likelihoods of the record's tokens and its closing end-of-text / their count). The windowed figure
(``engine.perplexity``) scores a record after up to a thousand tokens of earlier records, often by the
same author, so it rewards a model for leaning on context the chat never gives it: on a 3,000-post
one-author export the base model's valid perplexity was 47 windowed and 352 per record.

Records are batched by length (sorted, then cut into batches of about ``batch_tokens`` padded tokens), so
padding stays small and a pass costs about what the windowed pass does (each token is scored once, with
short attention, where the windowed pass scores a token twice in overlapping windows).
"""

from __future__ import annotations

import math
import threading
from typing import Callable, Sequence

from .encoding import encode_records
from .perplexity import PerplexityResult, head_in_chunks_applies, head_in_chunks_nll, leading_records

RECORD_CONTEXT = "record"  # PerplexityResult.context of this figure ("windowed" for the sliding window's)
DEFAULT_BATCH_TOKENS = 8192  # padded tokens a forward pass: the windowed pass's 4 x 1024 x 2, as much memory


def length_batches(lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Indices of records grouped into batches of similar length, each at most ``batch_tokens`` padded
    tokens (a record longer than that is a batch of its own)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[i]  # the longest so far, since they come sorted
        if current and width * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def record_nll(model, encoded: Sequence[Sequence[int]], *, eot_id: int, pad_id: int = 0,
               batch_tokens: int = DEFAULT_BATCH_TOKENS, cancel: threading.Event | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> tuple[float, int]:
    """Total NLL (nats) and tokens predicted when each record (its ids, closing end-of-text included) is
    scored after ``eot_id`` alone."""
    import torch

    from .perplexity import _full_logits_nll, accepts_logits_to_keep

    device = next(model.parameters()).device
    inputs = [[eot_id, *ids] for ids in encoded]
    batches = length_batches([len(x) for x in inputs], batch_tokens)
    chunked = head_in_chunks_applies(model)
    keeps_logits = accepts_logits_to_keep(model)
    total_nll, total_tokens = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for done, batch in enumerate(batches, 1):
                if cancel is not None and cancel.is_set():
                    break
                width = max(len(inputs[i]) for i in batch)
                input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                attention = torch.zeros((len(batch), width), dtype=torch.long)
                labels = torch.full((len(batch), width), -100, dtype=torch.long)
                for row, i in enumerate(batch):
                    ids = torch.tensor(inputs[i], dtype=torch.long)
                    input_ids[row, : len(ids)] = ids
                    attention[row, : len(ids)] = 1
                    labels[row, 1 : len(ids)] = ids[1:]  # the end-of-text before the record is context only
                input_ids, attention, labels = input_ids.to(device), attention.to(device), labels.to(device)
                if chunked:
                    nll, count = head_in_chunks_nll(model, input_ids, attention, labels)
                else:
                    nll, count = _full_logits_nll(model, [_Whole()] * len(batch), width, input_ids, attention, labels,
                                                  keeps_logits)
                total_nll += float(nll)
                total_tokens += count
                if on_progress:
                    on_progress(done, len(batches))
    finally:
        model.train(was_training)
    return total_nll, total_tokens


class _Whole:
    """A window that predicts from its second token on (what ``_full_logits_nll`` reads of a window)."""

    begin, target_begin = 0, 1


def record_perplexity_of_lines(
    model,
    tokenizer,
    lines: Sequence[str],
    *,
    eot_id: int,
    pad_id: int = 0,
    name: str = "<lines>",
    max_tokens: int = 0,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PerplexityResult:
    """Per-record perplexity of records given as lines (module docstring); ``max_tokens`` > 0 scores the
    leading records within that many tokens, the same records the windowed figure scores."""
    encoded = encode_records(tokenizer, lines, eot_id)
    if max_tokens > 0:
        kept = leading_records(encoded, max_tokens)
        encoded, lines = encoded[:kept], lines[:kept]
    nll_sum, tokens = record_nll(model, encoded, eot_id=eot_id, pad_id=pad_id, batch_tokens=batch_tokens,
                                 cancel=cancel, on_progress=on_progress)
    n_bytes = sum(len(line.encode("utf-8")) + 1 for line in lines)
    words = sum(len(line.split()) + 1 for line in lines)
    mean = nll_sum / max(tokens, 1)
    return PerplexityResult(
        file=name, records=len(lines), tokens=tokens, nll=mean, perplexity=math.exp(mean),
        bytes=n_bytes, bits_per_byte=nll_sum / math.log(2) / max(n_bytes, 1),
        words=words, word_perplexity=math.exp(nll_sum / max(words, 1)),
        stride_tokens=0, max_len_tokens=max((len(ids) + 1 for ids in encoded), default=0), context=RECORD_CONTEXT,
    )
