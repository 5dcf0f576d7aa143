"""Surprisal: the log-probability a model gives each token of a text, and where two models disagree.

Two ways to score, one forward-pass routine:

- A text on its own (``score_texts``): the record ``\\author- text`` + end-of-text, preceded by an
  end-of-text token, as the model sees the start of every record in training and generation. Every
  token after that first one gets its log-probability; the tokens of the ``\\author- `` prefix are
  context (``TokenScore.context``) and left out of the text's mean. The closing end-of-text token is
  scored: it is the model's belief that the tweet ends there.
- A file of records (``score_lines``): exactly as ``tweetsmith eval`` scores it (engine.perplexity):
  the concatenation of the records (each + end-of-text), the same sliding windows (``max_len =
  min(1024, context)``, stride 512), each token predicted once, the first token not predicted. So the
  mean negative log-likelihood over every predicted token (``FileScore.nll``) *is* eval's, and the
  per-record text means show which records the model found hard.

Log-probabilities are natural logs (nats); surprisal in bits is ``-logprob / ln 2``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tweetsmith.data.records import Record, format_line

from .encoding import encode_records
from .perplexity import DEFAULT_STRIDE_TOKENS, max_len_for, sliding_windows

LN2 = math.log(2)


@dataclass(frozen=True)
class TokenScore:
    """One token: its characters in the text (``start``/``end`` index the text, not the line; the end of
    text is ``""`` at the text's end), its log-probability, and whether it is prefix context."""

    token_id: int
    piece: str
    start: int
    end: int
    logprob: float
    context: bool = False
    end_of_text: bool = False

    @property
    def bits(self) -> float:
        """Surprisal in bits."""
        return -self.logprob / LN2

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)


@dataclass(frozen=True)
class TextScore:
    """A text's tokens under one model; the means are over the scored (non-context) tokens."""

    author: str
    text: str
    model: str
    tokens: tuple[TokenScore, ...]

    @property
    def scored(self) -> list[TokenScore]:
        return [t for t in self.tokens if not t.context]

    @property
    def total_logprob(self) -> float:
        return sum(t.logprob for t in self.scored)

    @property
    def mean_logprob(self) -> float | None:
        scored = self.scored
        return self.total_logprob / len(scored) if scored else None

    @property
    def perplexity(self) -> float | None:
        mean = self.mean_logprob
        return math.exp(-mean) if mean is not None else None

    def to_dict(self) -> dict:
        return {
            "author": self.author,
            "text": self.text,
            "model": self.model,
            "mean_logprob": self.mean_logprob,
            "perplexity": self.perplexity,
            "scored_tokens": len(self.scored),
            "tokens": [
                {
                    "piece": t.piece,
                    "logprob": t.logprob,
                    "context": t.context,
                    "end_of_text": t.end_of_text,
                    "start": t.start,
                    "end": t.end,
                }
                for t in self.tokens
            ],
        }


@dataclass(frozen=True)
class FileScore:
    """A file scored as eval scores it; ``nll`` is eval's mean NLL per predicted token."""

    name: str
    model: str
    records: tuple[TextScore, ...]
    nll: float  # mean negative log-likelihood over every predicted token (prefixes and ends included)
    tokens: int  # tokens predicted
    stride_tokens: int
    max_len_tokens: int

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll)

    @property
    def text_nll(self) -> float | None:
        """Mean NLL over the text tokens (and ends) only: the prefixes are context here."""
        scored = [t for r in self.records for t in r.scored]
        return -sum(t.logprob for t in scored) / len(scored) if scored else None

    def to_dict(self, with_records: bool = False) -> dict:
        out = {
            "file": self.name,
            "model": self.model,
            "nll": self.nll,
            "perplexity": self.perplexity,
            "tokens": self.tokens,
            "text_nll": self.text_nll,
            "records": len(self.records),
            "stride_tokens": self.stride_tokens,
            "max_len_tokens": self.max_len_tokens,
        }
        if with_records:
            out["by_record"] = [r.to_dict() for r in self.records]
        return out


# --- forward passes --------------------------------------------------------------------------------


def _window_logprobs(
    model, rows: Sequence[tuple[Sequence[int], int]], *, pad_id: int, batch_rows: int = 8
) -> list[list[float]]:
    """For each (ids, first) row: log-probabilities of ``ids[first:]``, each predicted from the ids before it
    in the row (right-padded batches, padding masked; the same computation as ``perplexity.sum_nll``)."""
    import torch

    device = next(model.parameters()).device
    out: list[list[float]] = []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(rows), batch_rows):
                batch = rows[start : start + batch_rows]
                width = max(len(ids) for ids, _ in batch)
                input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                attention = torch.zeros((len(batch), width), dtype=torch.long)
                for r, (ids, _) in enumerate(batch):
                    input_ids[r, : len(ids)] = torch.tensor(list(ids), dtype=torch.long)
                    attention[r, : len(ids)] = 1
                logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits
                logprobs = torch.log_softmax(logits[:, :-1, :].float(), dim=-1)
                targets = input_ids[:, 1:].to(device)
                picked = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).double().cpu()
                for r, (ids, first) in enumerate(batch):
                    out.append(picked[r, first - 1 : len(ids) - 1].tolist())
    finally:
        model.train(was_training)
    return out


def _stream_logprobs(
    model, ids: Sequence[int], *, stride_tokens: int, max_len_tokens: int, pad_id: int, batch_rows: int = 4
) -> list[float | None]:
    """Log-probability of every token of ``ids`` by the perplexity windows (None for the first token)."""
    windows = sliding_windows(len(ids), max_len_tokens, stride_tokens)
    rows = [(ids[w.begin : w.end], w.target_begin - w.begin) for w in windows]
    values: list[float | None] = [None] * len(ids)
    for w, row in zip(windows, _window_logprobs(model, rows, pad_id=pad_id, batch_rows=batch_rows)):
        values[w.target_begin : w.end] = row
    return values


# --- tokens and their places in the text -------------------------------------------------------------


def _pieces(tokenizer, line: str, ids: Sequence[int]) -> list[tuple[int, int]]:
    """Non-overlapping character spans of ``ids`` in ``line``: a character belongs to the first token
    that covers it (byte-level tokens of one emoji share its span; the later ones get nothing)."""
    spans: list[tuple[int, int]] = []
    if getattr(tokenizer, "is_fast", False):
        encoded = tokenizer(line, add_special_tokens=False, return_offsets_mapping=True)
        if list(encoded["input_ids"]) == list(ids):
            done = 0
            for a, b in encoded["offset_mapping"]:
                a = max(a, done)
                b = max(b, a)
                spans.append((a, b))
                done = b
            return spans
    done = 0  # slow tokenizers: grow the decoded prefix token by token
    for k in range(len(ids)):
        text = tokenizer.decode(list(ids[: k + 1]), clean_up_tokenization_spaces=False)
        end = len(text) if not text.endswith("\ufffd") else done
        spans.append((done, max(end, done)))
        done = max(end, done)
    return spans


def _text_score(
    tokenizer, record: Record, ids: Sequence[int], logprobs: Sequence[float | None], model: str
) -> TextScore:
    """``ids`` = the line's tokens + end-of-text; ``logprobs`` one per id (None: not predicted)."""
    line = format_line(record)
    prefix = len(line) - len(record.text)
    spans = _pieces(tokenizer, line, ids[:-1])
    tokens = []
    for (a, b), token_id, lp in zip(spans, ids[:-1], logprobs[:-1]):
        if lp is None:
            continue
        context = b <= prefix
        tokens.append(
            TokenScore(
                int(token_id), line[a:b], max(a, prefix) - prefix, max(b, prefix) - prefix, float(lp), context=context
            )
        )
    if logprobs[-1] is not None:
        n = len(record.text)
        tokens.append(TokenScore(int(ids[-1]), "", n, n, float(logprobs[-1]), end_of_text=True))
    return TextScore(record.author, record.text, model, tuple(tokens))


def _name(loaded) -> str:
    info = loaded.info
    return info.spec + (f" + {info.adapter}" if info.adapter else "")


def score_texts(
    loaded, records: Sequence[Record], *, batch_rows: int = 8, model_name: str | None = None
) -> list[TextScore]:
    """Each record scored on its own (see the module docstring). A record longer than the model's
    context is scored by the perplexity windows."""
    max_len = max_len_for(loaded.model)
    name = model_name or _name(loaded)
    lines = [format_line(r) for r in records]
    encoded = encode_records(loaded.tokenizer, lines, loaded.eot_id) if lines else []
    out: list[TextScore | None] = [None] * len(records)
    short = [i for i, ids in enumerate(encoded) if len(ids) + 1 <= max_len]
    rows = [([loaded.eot_id] + encoded[i], 1) for i in short]
    for i, lps in zip(short, _window_logprobs(loaded.model, rows, pad_id=loaded.pad_id, batch_rows=batch_rows)):
        out[i] = _text_score(loaded.tokenizer, records[i], encoded[i], lps, name)
    for i in (i for i in range(len(records)) if out[i] is None):
        ids = [loaded.eot_id] + encoded[i]
        streamed = _stream_logprobs(
            loaded.model,
            ids,
            stride_tokens=min(DEFAULT_STRIDE_TOKENS, max_len),
            max_len_tokens=max_len,
            pad_id=loaded.pad_id,
        )
        out[i] = _text_score(loaded.tokenizer, records[i], encoded[i], streamed[1:], name)
    scores = [score for score in out if score is not None]
    assert len(scores) == len(records)  # each record is scored by one of the two passes above
    return scores


def most_surprising(score: TextScore, *, after_char: int = 0) -> TokenScore | None:
    """The token of the text the model found least likely (lowest log-probability), among those that end
    after ``after_char``: a card's typed text is the user's, not the model's, so only the sample counts.
    The end of text is left out (where a tweet stops is no word to name), and so are tokens with no
    characters of their own (the later bytes of a character split across tokens)."""
    found = [t for t in score.scored if not t.end_of_text and t.end > t.start and t.end > after_char]
    return min(found, key=lambda t: t.logprob, default=None)


def score_text(loaded, author: str, text: str) -> TextScore:
    """One text for ``author`` (empty: no prefix)."""
    return score_texts(loaded, [Record(author.strip().lstrip("@"), text)])[0]


def score_lines(
    loaded,
    lines: Sequence[str],
    *,
    name: str = "<lines>",
    stride_tokens: int = DEFAULT_STRIDE_TOKENS,
    batch_windows: int = 4,
    model_name: str | None = None,
) -> FileScore:
    """A file's records scored as eval scores the file (see the module docstring)."""
    from tweetsmith.data.records import parse_line

    model = model_name or _name(loaded)
    max_len = max_len_for(loaded.model)
    stride = min(stride_tokens, max_len)
    encoded = encode_records(loaded.tokenizer, list(lines), loaded.eot_id) if lines else []
    stream = [t for ids in encoded for t in ids]
    values = _stream_logprobs(
        loaded.model,
        stream,
        stride_tokens=stride,
        max_len_tokens=max_len,
        pad_id=loaded.pad_id,
        batch_rows=batch_windows,
    )
    records, at = [], 0
    for line, ids in zip(lines, encoded):
        records.append(_text_score(loaded.tokenizer, parse_line(line), ids, values[at : at + len(ids)], model))
        at += len(ids)
    predicted = [v for v in values if v is not None]
    nll = -sum(predicted) / max(len(predicted), 1)
    return FileScore(
        name=name,
        model=model,
        records=tuple(records),
        nll=nll,
        tokens=len(predicted),
        stride_tokens=stride,
        max_len_tokens=max_len,
    )


def score_file(loaded, path, **kwargs) -> FileScore:
    from tweetsmith.data.records import read_split_lines

    return score_lines(loaded, read_split_lines(path), name=str(path), **kwargs)


# --- two models ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Disagreement:
    piece: str
    start: int
    end: int
    base: float  # log-probability under the base model
    tuned: float

    @property
    def change(self) -> float:
        """tuned - base, in nats: positive where tuning made the token likelier."""
        return self.tuned - self.base

    def to_dict(self) -> dict:
        return {
            "piece": self.piece,
            "start": self.start,
            "end": self.end,
            "base": self.base,
            "tuned": self.tuned,
            "change": self.change,
        }


def disagreements(base: TextScore, tuned: TextScore, top: int = 5) -> list[Disagreement]:
    """The scored tokens whose log-probability differs most between the two models (largest |change| first).
    Empty when the two tokenized the text differently (different tokenizers)."""
    a, b = base.scored, tuned.scored
    if [t.token_id for t in a] != [t.token_id for t in b]:
        return []
    pairs = [
        Disagreement("<end>" if x.end_of_text else x.piece, x.start, x.end, x.logprob, y.logprob) for x, y in zip(a, b)
    ]
    return sorted(pairs, key=lambda d: -abs(d.change))[:top]


def score_base_and_tuned(records: Sequence[Record], *, base=None, tuned=None) -> dict[str, list[TextScore]]:
    """Scores under each model given. A tuned model carrying a LoRA adapter also gives the base scores
    when no base is passed, by switching its adapter off (no second copy of the weights)."""
    out: dict[str, list[TextScore]] = {}
    if base is not None:
        out["base"] = score_texts(base, records)
    elif tuned is not None and callable(getattr(tuned.model, "disable_adapter", None)):
        with tuned.model.disable_adapter():
            out["base"] = score_texts(tuned, records, model_name=tuned.info.spec)
    if tuned is not None:
        out["tuned"] = score_texts(tuned, records)
    return out
