"""Perplexity by the definition in docs/definitions.md, batched.

Perplexity = exp(mean negative log-likelihood per predicted token) over the concatenation of the
records (each + end-of-text), scored with a sliding window of ``max_len_tokens = min(1024, context)``
and stride ``stride_tokens`` (512): each token is predicted exactly once, with the longest context
the window allows; the first token is not predicted. Windows are batched (right padding masked out),
which gives the same sums as scoring them one by one.

A model loaded in bf16 (``--precision``, ``engine.precision``) runs its matmuls in bf16 (on a CPU with its
residual stream in fp32: ``engine.precision.store_for_bf16_inference``); the output head, the log-softmax and
the sums stay fp32 (``fp32_head``), which keeps the figure within 0.5% of fp32's (bench/bf16_error.py).

Per-record ("cold") perplexity (``record_perplexity_of_lines``): each record scored alone, after nothing
but the end-of-text token: exp(sum of the NLLs of the record's tokens and its closing end-of-text / their
count). The windowed figure scores a record after up to a thousand tokens of earlier records, often by
the same author, so it rewards a model for leaning on context the chat never gives it: on a 3,000-post
one-author export the base model's valid perplexity was 47 windowed and 352 per record. Records are
batched by length (sorted, then cut into batches of about ``batch_tokens`` padded tokens), so a pass
costs less than the windowed one (each token scored once, with short attention; bench/record_perplexity_speed.py).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tweetsmith.data.records import read_split_lines

from .encoding import concat, encode_records

DEFAULT_STRIDE_TOKENS = 512


@dataclass(frozen=True)
class PerplexityResult:
    """Perplexity of one text, with the numbers needed to compare across tokenizers."""

    file: str
    records: int
    tokens: int  # tokens predicted (all tokens but the first)
    nll: float  # mean negative log-likelihood per predicted token, in nats
    perplexity: float
    bytes: int  # UTF-8 bytes of the text, one per record for its end of text
    bits_per_byte: float  # tokenizer-independent: total NLL in bits / bytes
    words: int  # whitespace words, plus one per record for its end of text
    word_perplexity: float  # tokenizer-independent: exp(total NLL / words)
    stride_tokens: int  # 0 for the per-record figure
    max_len_tokens: int
    # "windowed": records in sliding windows of their concatenation; "record": each record alone after
    # end-of-text (``record_perplexity_of_lines``), what the chat faces
    context: str = "windowed"

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> PerplexityResult:
        fields = cls.__dataclass_fields__
        return cls(**{f: d[f] for f in fields if f != "context"}, context=d.get("context", "windowed"))


@dataclass(frozen=True)
class Window:
    begin: int  # first input token
    end: int  # one past the last input token
    target_begin: int  # first token this window predicts (earlier ones are context only)


def sliding_windows(n_tokens: int, max_len: int, stride: int) -> list[Window]:
    """The windows of the definition: each token in [1, n) is a target in exactly one window."""
    if not 0 < stride <= max_len:
        raise ValueError(f"stride must be in 1..max_len ({max_len}), got {stride}")
    windows, prev_end = [], 0
    for start in range(0, n_tokens, stride):
        # A window's first token has no context, so the next target must come after it: with
        # stride == max_len the window starts one token early (still at most max_len tokens).
        begin = min(start, prev_end - 1) if prev_end else start
        end = min(begin + max_len, n_tokens)
        target_begin = max(prev_end, begin + 1)
        if end > target_begin:
            windows.append(Window(begin, end, target_begin))
        prev_end = end
        if end == n_tokens:
            break
    return windows


def max_len_for(model) -> int:
    config = model.config
    context = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None) or 1024
    return min(1024, int(context))


def accepts_logits_to_keep(model) -> bool:
    """Whether the model's forward can return logits for the last positions only (transformers' causal
    LMs do; a PEFT wrapper passes the argument through to its base model)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return "logits_to_keep" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False


def sum_nll(
    model,
    ids: Sequence[int],
    *,
    stride_tokens: int = DEFAULT_STRIDE_TOKENS,
    max_len_tokens: int | None = None,
    batch_windows: int = 4,
    pad_id: int = 0,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    chunk_head: bool = True,
) -> tuple[float, int]:
    """Total NLL (nats) and the number of predicted tokens of the token stream ``ids``.

    ``chunk_head``: the output head and the cross-entropy run over the target tokens in chunks
    (``head_in_chunks_nll``), never on the whole batch's logits (False: the model's own logits)."""
    import torch

    max_len = max_len_tokens or max_len_for(model)
    windows = sliding_windows(len(ids), max_len, stride_tokens)
    device = next(model.parameters()).device
    all_ids = torch.tensor(ids, dtype=torch.long)
    total_nll, total_tokens = 0.0, 0
    keeps_logits = accepts_logits_to_keep(model)
    chunked = chunk_head and head_in_chunks_applies(model)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(windows), batch_windows):
                if cancel is not None and cancel.is_set():
                    break
                batch = windows[start : start + batch_windows]
                width = max(w.end - w.begin for w in batch)
                input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                attention = torch.zeros((len(batch), width), dtype=torch.long)
                labels = torch.full((len(batch), width), -100, dtype=torch.long)
                for row, w in enumerate(batch):
                    length = w.end - w.begin
                    input_ids[row, :length] = all_ids[w.begin : w.end]
                    attention[row, :length] = 1
                    first = w.target_begin - w.begin
                    labels[row, first:length] = all_ids[w.target_begin : w.end]
                input_ids, attention, labels = input_ids.to(device), attention.to(device), labels.to(device)
                if chunked:
                    nll, count = head_in_chunks_nll(model, input_ids, attention, labels)
                else:
                    nll, count = _full_logits_nll(model, batch, width, input_ids, attention, labels, keeps_logits)
                total_nll += float(nll)
                total_tokens += count
                if on_progress:
                    on_progress(min(start + batch_windows, len(windows)), len(windows))
    finally:
        model.train(was_training)
    return total_nll, total_tokens


HEAD_CHUNK_TOKENS = 1024


def head_in_chunks_applies(model) -> bool:
    """Whether the model's logits are its head applied to its backbone's last hidden states, nothing more
    (a model that scales or soft-caps its logits is scored through its own forward)."""
    from .chunked_loss import backbone_and_head

    config = getattr(model, "config", None)
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
        return False
    try:
        backbone_and_head(model)
    except ValueError:
        return False
    return True


def head_in_chunks_nll(model, input_ids, attention, labels, chunk_tokens: int | None = None) -> tuple[float, int]:
    """(summed NLL, tokens) of ``labels`` (-100: not scored; position i predicts token i + 1), with the head
    applied only to the hidden states of positions that predict a target, ``chunk_tokens`` at a time.

    The batch's logits (4 windows x 1024 positions x 49k floats: 0.8 GB, and as much again for the
    log-probabilities) are never held, so an evaluation inside a training stays under the training's own
    peak (bench/train_memory.py --eval shows both)."""
    import torch.nn.functional as F

    from .chunked_loss import backbone_and_head

    chunk_tokens = chunk_tokens or HEAD_CHUNK_TOKENS
    backbone, head = backbone_and_head(model)
    head = fp32_head(head)
    hidden = backbone(input_ids=input_ids, attention_mask=attention).last_hidden_state[:, :-1, :]
    targets = labels[:, 1:]
    keep = targets != -100
    hidden, targets = hidden[keep], targets[keep]
    total = 0.0
    for start in range(0, targets.numel(), chunk_tokens):
        logits = head(hidden[start : start + chunk_tokens]).float()
        total += float(F.cross_entropy(logits, targets[start : start + chunk_tokens], reduction="sum"))
    return total, int(targets.numel())


def fp32_head(head):
    """The output head of a bf16/fp16 model as an fp32 one (its weight upcast once per batch, the hidden states
    per chunk); a fp32 head as it is. Scoring the embedded model in bf16, the fp32 head halved the error
    against fp32 (per record 0.33% -> 0.17%, windowed 0.15% -> 0.07%, README) for ~12% of bf16's speed.
    Sampling keeps the bf16 head: its speed matters there, its samples may differ anyway."""
    import torch
    import torch.nn.functional as F

    weight = getattr(head, "weight", None)
    if not isinstance(head, torch.nn.Linear) or weight is None or weight.dtype == torch.float32:
        return head
    weight = weight.float()
    bias = head.bias.float() if head.bias is not None else None
    return lambda hidden: F.linear(hidden.float(), weight, bias)


def _full_logits_nll(model, batch, width: int, input_ids, attention, labels, keeps_logits: bool) -> tuple[float, int]:
    """The same through the model's own forward, its logits kept from the first position that predicts a
    target (position i predicts token i + 1: after the first window half of each window is context)."""
    import torch.nn.functional as F

    first_predicting = min(w.target_begin - w.begin for w in batch) - 1 if keeps_logits else 0
    kwargs = {"logits_to_keep": width - first_predicting} if keeps_logits else {}
    logits = model(input_ids=input_ids, attention_mask=attention, **kwargs).logits
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, first_predicting + 1 :]
    nll = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1), ignore_index=-100, reduction="sum"
    )
    return float(nll), int((shift_labels != -100).sum())


def perplexity_of_lines(
    model,
    tokenizer,
    lines: Sequence[str],
    *,
    eot_id: int,
    pad_id: int = 0,
    name: str = "<lines>",
    stride_tokens: int = DEFAULT_STRIDE_TOKENS,
    max_len_tokens: int | None = None,
    batch_windows: int = 4,
    max_tokens: int = 0,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PerplexityResult:
    """Perplexity of records given as lines (see the module docstring for the definition).

    ``max_tokens`` > 0 scores only the leading records that fit in that many tokens (at least one): a
    bounded, exact measurement of a big split; ``records``, ``bytes`` and ``words`` count those records."""
    encoded = encode_records(tokenizer, lines, eot_id)
    if max_tokens > 0:
        kept = leading_records(encoded, max_tokens)
        encoded, lines = encoded[:kept], lines[:kept]
    ids = concat(encoded)
    max_len = max_len_tokens or max_len_for(model)
    # A model whose context is shorter than the stride is scored in non-overlapping windows.
    stride_tokens = min(stride_tokens, max_len)
    nll_sum, tokens = sum_nll(
        model,
        ids,
        stride_tokens=stride_tokens,
        max_len_tokens=max_len,
        batch_windows=batch_windows,
        pad_id=pad_id,
        cancel=cancel,
        on_progress=on_progress,
    )
    return _result(name, lines, nll_sum, tokens, stride_tokens=stride_tokens, max_len_tokens=max_len)


def _result(name: str, lines: Sequence[str], nll_sum: float, tokens: int, **window) -> PerplexityResult:
    """The figures of ``lines`` from their summed NLL: per token, per byte and per word (the last two do
    not depend on the tokenizer; each record counts one byte and one word for its end-of-text)."""
    n_bytes = sum(len(line.encode("utf-8")) + 1 for line in lines)
    words = sum(len(line.split()) + 1 for line in lines)
    mean = nll_sum / max(tokens, 1)
    return PerplexityResult(
        file=name,
        records=len(lines),
        tokens=tokens,
        nll=mean,
        perplexity=math.exp(mean),
        bytes=n_bytes,
        bits_per_byte=nll_sum / math.log(2) / max(n_bytes, 1),
        words=words,
        word_perplexity=math.exp(nll_sum / max(words, 1)),
        **window,
    )


def leading_records(encoded: Sequence[Sequence[int]], max_tokens: int) -> int:
    """How many leading records fit in ``max_tokens`` tokens (at least one, when there is one)."""
    total = 0
    for i, ids in enumerate(encoded):
        total += len(ids)
        if total > max_tokens:
            return max(i, 1)
    return len(encoded)


# --- per record ("cold") ---------------------------------------------------------------------------


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


def record_nll(
    model,
    encoded: Sequence[Sequence[int]],
    *,
    eot_id: int,
    pad_id: int = 0,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[float, int]:
    """Total NLL (nats) and tokens predicted when each record (its ids, closing end-of-text included) is
    scored after ``eot_id`` alone."""
    import torch

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
                    nll, count = _full_logits_nll(
                        model, [_Whole()] * len(batch), width, input_ids, attention, labels, keeps_logits
                    )
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
    nll_sum, tokens = record_nll(
        model, encoded, eot_id=eot_id, pad_id=pad_id, batch_tokens=batch_tokens, cancel=cancel, on_progress=on_progress
    )
    return _result(
        name,
        lines,
        nll_sum,
        tokens,
        stride_tokens=0,
        context=RECORD_CONTEXT,
        max_len_tokens=max((len(ids) + 1 for ids in encoded), default=0),
    )


def perplexity_of_file(loaded, path: str | Path, *, context: str = "windowed", **kwargs) -> PerplexityResult:
    """Perplexity of a split file in line format, for a ``LoadedModel`` (LoRA adapters merged while scoring):
    ``context`` "windowed" (this module) or "record" (``record_perplexity_of_lines``, each record alone)."""
    from .lora import adapters_merged

    lines = read_split_lines(path)
    with adapters_merged(loaded.model) as model:
        if context == RECORD_CONTEXT:
            kwargs.pop("stride_tokens", None), kwargs.pop("max_len_tokens", None), kwargs.pop("batch_windows", None)
            return record_perplexity_of_lines(
                model, loaded.tokenizer, lines, eot_id=loaded.eot_id, pad_id=loaded.pad_id, name=str(path), **kwargs
            )
        return perplexity_of_lines(
            model, loaded.tokenizer, lines, eot_id=loaded.eot_id, pad_id=loaded.pad_id, name=str(path), **kwargs
        )
