"""The token loop behind every generated sample: forward the rows still going, pick a token each, drop
the rows that ended.

Our own loop rather than transformers' ``generate``: a row leaves the batch (and the key/value cache)
as soon as it ends, so a batch costs the sum of its samples' lengths rather than its longest sample
times its rows (tweets end after ~25 tokens, the cap is 60: 3.3x the samples/s at 64 a batch,
bench/generation_speed.py); the stop check is a table lookup per token instead of a decode (only a
token holding part of a multi-byte character, as of U+2028, has its row's last few tokens decoded).
Each row draws from its own seeded generator, so a sample does not depend on the other rows of its batch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .sampling import SamplingConfig, logits_warpers

# A tweet is one line: it ends at the first line break of any kind, not only "\n" (a "\r" left in a
# sample broke the chat's markdown export, and U+2028 splits a JSON line for str.splitlines()).
LINE_BREAKS = "\n\r\x0b\x0c\x85\u2028\u2029"
# Which tokens a seed gives: part of every cached sample's key and of compare.json / sweep-*.json, so a
# change to this loop recomputes them. Bump it with such a change.
# 2: a prompt ending in a space gets a space-led first token.
# 3: every line break ends a sample (LINE_BREAKS), also one whose UTF-8 bytes span several tokens.
# 4: a sample that starts a new record (a generated author tag, ``\\other-``) ends there (RECORD_START).
# 5: a tweet (typed text + sample) longer than TWEET_MAX_CHARS is cut there (``cap_tweet``).
DECODE_VERSION = 6
SPLIT_CHAR_TOKENS = 4  # a UTF-8 character is at most 4 bytes, so at most 4 byte-level tokens


# A new record starting inside a sample: an author tag (``\\sama-``, the line format's prefix) at the start
# of the text, after a space or glued to the end of a sentence (``people...\\paulg-``, read in a tuned model's
# samples). The model learned that records follow each other; a tuned model writes ``\\NAME- \\NAME- ...``
# or another author's tweet after its own, which is a second tweet, not this one's text. After a letter, a
# digit, ":" or "/" a backslash is text (``C:\\dir-x``).
_TAG_MAY_FOLLOW = r"""(?:^|(?<=[\s.!?…"'”’)\]]))"""
RECORD_START = re.compile(_TAG_MAY_FOLLOW + r"\\[^\s\\]+-")
# A trailing backslash-word that may still become such a tag: the stream holds it back until it is decided.
_MAYBE_RECORD_START = re.compile(_TAG_MAY_FOLLOW + r"\\[^\s\\-]*$")


TWEET_MAX_CHARS = 280  # a tweet's length limit, in characters (code points; Twitter weighs URLs and CJK apart)


def cap_tweet(text: str, typed_chars: int = 0) -> tuple[str, bool]:
    """``text``, the continuation of ``typed_chars`` typed characters, cut so that the whole tweet holds at
    most TWEET_MAX_CHARS: before the word the limit falls in (at the last whitespace before it) when text
    stays, else at the limit itself. Returns (the text, whether it was cut)."""
    room = max(TWEET_MAX_CHARS - typed_chars, 0)
    if len(text) <= room:
        return text, False
    head = text[:room]
    if not text[room].isspace():  # the limit falls inside a word: leave that word out
        boundary = max((i for i, char in enumerate(head) if char.isspace()), default=-1)
        if head[: max(boundary, 0)].strip():
            head = head[:boundary]
    return head.rstrip(), True


def record_start(text: str) -> int:
    """Where a new record's author tag starts in ``text`` after some text of this one (-1: none). A tag at
    the very start is left alone: cutting there would leave an empty sample (the problem is reported)."""
    return next((m.start() for m in RECORD_START.finditer(text) if text[: m.start()].strip()), -1)


def undecided_tail(text: str) -> int:
    """Where a trailing ``\\word`` starts that could still become such a tag (len(text): none)."""
    found = _MAYBE_RECORD_START.search(text)
    return found.start() if found and text[: found.start()].strip() else len(text)


# C0 and C1 control characters (ESC of a terminal escape sequence, NUL, ...) and the Unicode line and
# paragraph separators; the newline stays.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def clean_sample_text(text: str) -> str:
    """``text`` without control characters other than the newline: a tab becomes a space (it parts words),
    every other one is removed (``"\\x1b[31mred"`` becomes ``"[31mred"``).

    Character by character, so the clean text of a prefix is a prefix of the clean text: a stream that
    cleans its text as it grows shows exactly the final sample's text.
    """
    return _CONTROL.sub("", text.replace("\t", " "))


class RowSampler:
    """Warp (temperature, top-k, ...) then draw each row's token with that row's own generator.

    A row's draws never depend on the other rows of its batch, nor on when they left it.
    """

    def __init__(self, config: SamplingConfig, seeds: Sequence[int], device):
        import torch

        self.warpers = logits_warpers(config)
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]

    def draw(self, scores, rows: Sequence[int]):
        """One token per row of ``scores``; ``rows[i]`` is the original row (and generator) of row i."""
        import torch

        for warper in self.warpers:
            scores = warper(None, scores)
        # Inverse-CDF draw, one uniform per row from that row's generator (torch.multinomial costs
        # ~20 ms a row on a 49k vocabulary on CPU; this is ~0.2 ms). searchsorted(right=True) lands on
        # the first token whose cumulative probability exceeds u, which always has probability > 0.
        cdf = torch.softmax(scores.double(), dim=-1).cumsum(dim=-1)
        u = torch.cat(
            [torch.rand(1, generator=self.generators[r], dtype=torch.float64, device=scores.device) for r in rows]
        )
        chosen = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True).clamp_(max=scores.shape[-1] - 1)
        return chosen.squeeze(-1)


class TokenTable:
    """Per-token facts the decoding loop needs at every step, computed once per tokenizer.

    ``stops``: end-of-text and every token whose text holds a line break (byte-level BPE keeps a
    one-byte line break such as "\\n" or "\\r" inside one token, so a per-token check sees it without
    decoding the text at each step). ``blank``: tokens whose text, cleaned, is only whitespace.
    ``spaced``: tokens whose text begins with a space (byte-level BPE carries the space before a word in
    the word's token).
    ``dash``: tokens holding "-": only after one can a new record's tag (``\\sama-``) have been completed,
    so only then is the row's text decoded to look for it.
    ``split``: tokens whose text alone holds U+FFFD, i.e. part of a multi-byte character: U+2028 is two
    tokens in SmolLM2's vocabulary, and the token that completes it is such a token.
    """

    _cache: dict[tuple, tuple] = {}

    @classmethod
    def of(cls, tokenizer, eot_id: int, vocab_size: int):
        """(stops, blank, spaced): boolean tensors over the vocabulary."""
        return cls._tables(tokenizer, eot_id, vocab_size)[:3]

    @classmethod
    def split_of(cls, tokenizer, eot_id: int, vocab_size: int):
        """``split``: a boolean tensor over the vocabulary (see the class)."""
        return cls._tables(tokenizer, eot_id, vocab_size)[3]

    @classmethod
    def dash_of(cls, tokenizer, eot_id: int, vocab_size: int):
        """``dash``: tokens holding "-", the last character of an author tag (``RECORD_START``)."""
        return cls._tables(tokenizer, eot_id, vocab_size)[4]

    @classmethod
    def _tables(cls, tokenizer, eot_id: int, vocab_size: int):
        """Keyed by what the tokenizer is (its class, source and size), not by the object: every load of a
        model makes a new tokenizer object, and building the table decodes the whole vocabulary (~0.7 s
        for 49k tokens), once per process instead of once per loaded model."""
        import torch

        key = (
            type(tokenizer).__name__,
            str(getattr(tokenizer, "name_or_path", id(tokenizer))),
            len(tokenizer),
            eot_id,
            vocab_size,
        )
        if key not in cls._cache:
            ids = [[index] for index in range(min(vocab_size, len(tokenizer)))]
            texts = tokenizer.batch_decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
            padding = [False] * (vocab_size - len(texts))  # rows of the output layer no token maps to
            stops = torch.tensor([has_line_break(text) for text in texts] + padding, dtype=torch.bool)
            # blank as the sample will hold it: a lone NUL or ESC is no text either
            blank = torch.tensor([not clean_sample_text(text).strip() for text in texts] + padding, dtype=torch.bool)
            spaced = torch.tensor([text.startswith(" ") for text in texts] + padding, dtype=torch.bool)
            split = torch.tensor(["\ufffd" in text for text in texts] + padding, dtype=torch.bool)
            dash = torch.tensor(["-" in text for text in texts] + padding, dtype=torch.bool)
            stops[eot_id] = True
            blank[eot_id] = spaced[eot_id] = split[eot_id] = dash[eot_id] = False
            cls._cache[key] = (stops, blank, spaced, split, dash)
        return cls._cache[key]


def _decoded(tokenizer, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)


def has_line_break(text: str) -> bool:
    return any(char in text for char in LINE_BREAKS)


def _ends_in_split_line_break(tokenizer, ids: Sequence[int]) -> bool:
    """Whether a line break made of several tokens ended with the last of ``ids`` (only asked after a
    ``split`` token; every earlier one was asked when it came, so a break found now ended now)."""
    tail = tokenizer.decode(
        list(ids[-SPLIT_CHAR_TOKENS:]), skip_special_tokens=False, clean_up_tokenization_spaces=False
    )
    return has_line_break(tail)


def decode_rows(
    loaded, input_ids, attention, encoded, seeds, require_text, owes_space, config: SamplingConfig, cancel, streamer
):
    """The token loop: forward the active rows, pick a token each, drop the rows that ended.

    ``owes_space[i]``: row i's prompt ended in a space, which was left out of its tokens (in training
    the space before a word is part of the word's token), so its first token must begin with a space.
    Unconstrained, a model continues the author tag as one hyphenated word (``\\nixon-code``): the
    embedded model gives a space-led token 0.3-0.7% of the weight after ``\\author-``, and still 1-3%
    after 20 steps of tuning on the speeches.
    """
    import torch

    model = loaded.model
    batch = input_ids.shape[0]
    sampler = None if config.greedy else RowSampler(config, seeds, input_ids.device)
    penalties = _penalties(config)
    histories = [list(ids) for ids in encoded]  # each row's own tokens, for the repetition processors
    generated: list[list[int]] = [[] for _ in range(batch)]
    active = torch.arange(batch, device=input_ids.device)  # original row index of each row still going
    positions = (attention.cumsum(-1) - 1).clamp_(min=0)
    step_ids, cache = input_ids, None
    stops = blank = spaced = split = dash = None
    needs_text = torch.tensor([bool(r) for r in require_text], dtype=torch.bool, device=input_ids.device)
    needs_space: torch.Tensor | None = torch.tensor(
        [bool(o) for o in owes_space], dtype=torch.bool, device=input_ids.device
    )  # None once the first token is drawn
    if streamer is not None:
        streamer.put(input_ids.cpu())
    for _ in range(config.max_new_tokens):
        if cancel is not None and cancel.is_set():
            return generated, True
        out = model(input_ids=step_ids, attention_mask=attention, position_ids=positions, cache=cache, use_cache=True)
        cache = out.cache
        scores = out.logits[:, -1, :].float()
        if stops is None:
            stops, blank, spaced = (
                t.to(scores.device) for t in TokenTable.of(loaded.tokenizer, loaded.eot_id, scores.shape[-1])
            )
            split = TokenTable.split_of(loaded.tokenizer, loaded.eot_id, scores.shape[-1]).to(scores.device)
            dash = TokenTable.dash_of(loaded.tokenizer, loaded.eot_id, scores.shape[-1]).to(scores.device)
        assert stops is not None and blank is not None and spaced is not None and split is not None and dash is not None
        rows = active.tolist()
        for processor in penalties:
            scores = torch.cat(
                [
                    processor(torch.tensor([histories[r]], device=scores.device), scores[i : i + 1])
                    for i, r in enumerate(rows)
                ]
            )
        if bool(needs_text.any()):  # no stop before a sample has text: an empty tweet is not a sample
            scores[needs_text.nonzero().squeeze(-1)[:, None], stops.nonzero().squeeze(-1)[None, :]] = float("-inf")
        if needs_space is not None:  # the first token only: the space the prompt owes
            if bool(spaced.any()):  # (a tokenizer that decodes no token with its space, as SentencePiece, is left free)
                scores = scores.masked_fill(needs_space[:, None] & ~spaced[None, :], float("-inf"))
            needs_space = None
        chosen = scores.argmax(dim=-1) if sampler is None else sampler.draw(scores, rows)
        needs_text &= blank[chosen]
        for r, token in zip(rows, chosen.tolist()):
            generated[r].append(token)
            histories[r].append(token)
        if streamer is not None:
            streamer.put(chosen.cpu())
        going = ~stops[chosen]
        ended_split = split[chosen] & going
        if bool(ended_split.any()):  # rare (emoji, U+2028): decode those rows' last tokens
            for i in ended_split.nonzero().squeeze(-1).tolist():
                if _ends_in_split_line_break(loaded.tokenizer, generated[rows[i]]):
                    going[i] = False
        dashed = dash[chosen] & going
        if bool(dashed.any()):  # a "-" may have completed another author's tag: this tweet ended before it
            for i in dashed.nonzero().squeeze(-1).tolist():
                if record_start(_decoded(loaded.tokenizer, generated[rows[i]])) >= 0:
                    going[i] = False
        if not bool(going.any()):
            break
        if not bool(going.all()):
            keep = going.nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            active, chosen, attention, positions = active[keep], chosen[keep], attention[keep], positions[keep]
            needs_text = needs_text[keep]
        step_ids = chosen[:, None]
        attention = torch.cat([attention, attention.new_ones((attention.shape[0], 1))], dim=-1)
        positions = positions[:, -1:] + 1
    return generated, False


def _penalties(config: SamplingConfig) -> list:
    """The processors that read a row's history (applied row by row, so padding never counts)."""
    from transformers.generation.logits_process import NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor

    processors: list = []
    if config.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(config.repetition_penalty))
    if config.no_repeat_ngram_size:
        processors.append(NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size))
    return processors
