"""Generate samples for an author: streamed one at a time (the app) or batched (experiments, the CLI).

The prompt is ``\\author- `` plus any text (``data.records.prompt_for``), preceded by the end-of-text
token so the model sees the start of a record exactly as in training. A sample ends at the end-of-text
token, at a line break of any kind (``decode_loop.LINE_BREAKS``: the text is cut at the first one) or
after ``max_new_tokens``; the token loop itself is ``engine.decode_loop``. A tweet (typed text + sample)
longer than 280 characters is cut before the word the limit falls in (``decode_loop.cap_tweet``, applied
once in ``_sample``). A sample's text holds no control character (``clean_sample_text``), so the card, the
markdown export and the files get what the stream showed. What comes back is a ``sample_record.Sample``.

Seeds: sample i of a request uses ``config.seed + i`` and records it. Each row samples from its own
``torch.Generator``, so a sample is the same whether it was generated alone or in a batch (up to float
rounding of padded batches), and ``--seed S -n 1`` reproduces the sample that recorded seed S.
Generation never touches torch's global RNG (the model runs in eval mode, so no dropout draws from it,
and every draw comes from a row's own generator), so a training in the same process keeps its own
random stream.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from tweetsmith.data.records import prompt_for

from .decode_loop import LINE_BREAKS, cap_tweet, clean_sample_text, decode_rows, record_start, undecided_tail
from .errors import ConfigError, EngineError
from .sample_record import Sample
from .sampling import SamplingConfig

DEFAULT_BATCH_SIZE = 64  # samples decoded together: 3.3x the samples/s of 16 here (bench/generation_speed.py)
POLL_S = 0.05  # how often a waiting consumer checks that the generation thread is still alive


# --- generate() plumbing -------------------------------------------------------------------------


class _PieceStreamer:
    """A ``generate`` streamer that decodes as tokens arrive and queues the new text pieces.

    Unlike TextIteratorStreamer it emits text at every token (holding back only an incomplete UTF-8
    character) and notes when the first new token arrived.
    """

    def __init__(self, tokenizer, out: queue.Queue, prompt: str, typed_chars: int = 0):
        self.tokenizer, self.out, self.prompt = tokenizer, out, prompt
        self.typed_chars = typed_chars  # the tweet's typed part: the stream stops at the tweet's length limit
        self.ids: list[int] = []
        self.emitted = ""
        self.first_token_at: float | None = None
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:  # generate's first put is the prompt
            self._prompt_seen = True
            return
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self.ids.extend(value.reshape(-1).tolist())
        text, cut = cap_tweet(new_text(self.tokenizer, self.ids, self.prompt), self.typed_chars)
        if text.endswith("\ufffd"):
            return
        if not cut:  # the last word may still run past the limit and be cut whole: shown once a space ends it
            text = text[: last_word_start(text)].rstrip()
        # a trailing "\\word" may still become another record's tag (cut from the sample): shown once it is not
        self._emit(text[: undecided_tail(text)].rstrip() if undecided_tail(text) < len(text) else text)

    def _emit(self, text: str) -> None:
        if len(text) > len(self.emitted) and text.startswith(self.emitted):
            self.out.put(text[len(self.emitted) :])
            self.emitted = text

    def end(self) -> None:
        pass


def last_word_start(text: str) -> int:
    """Where the word still being written at the end of ``text`` starts, with the space before it. Streaming
    holds it back: ``cap_tweet`` leaves out a word that runs past the limit (and the space before it), and a
    piece once streamed cannot be taken back. The hold lasts one token (the next word's token brings its space)."""
    return max((i for i, char in enumerate(text) if char.isspace()), default=0)


def _decode(tokenizer, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)


def cut_at_stop(text: str) -> str:
    """The text up to (not including) the first line break of any kind (``\\n``, ``\\r``, U+2028, ...) or
    the first author tag of a new record (``\\sama-``: the sample ended where another tweet began)."""
    index = min((i for i in map(text.find, LINE_BREAKS) if i >= 0), default=-1)
    text = text if index < 0 else text[:index]
    tag = record_start(text)
    return text if tag < 0 else text[:tag].rstrip()


def _prompt_ids(loaded, prompt: str) -> list[int]:
    # Encoded without trailing spaces: in training the space before a word belongs to the word's token
    # ("\\paulg- The" is "...-", " The"), so a prompt ending in " " asks for a sequence never seen and
    # the model answers with stray spaces and handles. new_text() gives the space back.
    return [loaded.eot_id] + loaded.tokenizer(prompt.rstrip(" "), add_special_tokens=False)["input_ids"]


def owes_space(prompt: str) -> bool:
    """Whether ``_prompt_ids`` left a trailing space out of the prompt: its first new token must bring one."""
    return prompt != prompt.rstrip(" ")


def new_text(tokenizer, ids: Sequence[int], prompt: str) -> str:
    """A sample's text from its new tokens: minus the spaces the prompt already ended with, up to the first
    line break, without control characters."""
    text = _decode(tokenizer, ids)
    owed = len(prompt) - len(prompt.rstrip(" "))
    lead = len(text) - len(text.lstrip(" "))
    return clean_sample_text(cut_at_stop(text[min(owed, lead) :]))


@dataclass(frozen=True)
class _Row:
    text: str
    new_tokens: int


def _generate(
    loaded,
    prompts: Sequence[str],
    seeds: Sequence[int],
    config: SamplingConfig,
    *,
    require_text: Sequence[bool] | None = None,
    cancel: threading.Event | None = None,
    streamer=None,
) -> tuple[list[_Row], bool]:
    """Sample every prompt to its end in one batch; returns the rows and whether it was cancelled.

    Left padding with explicit positions, so a row's numbers do not depend on the other rows of its
    batch (up to float rounding). A prompt ending in a space gets a first token that begins with one
    (``decode_rows``). ``require_text[i]``: row i may not stop before it
    has produced a non-blank token (set when the user typed nothing after the author: in the tweets
    every record ends in a space before its end-of-text, so a model learns "space, then end" and
    without this rule drew empty samples).
    """
    import torch

    require_text = list(require_text) if require_text is not None else [False] * len(prompts)
    encoded = [_prompt_ids(loaded, p) for p in prompts]
    width = max(len(ids) for ids in encoded)
    if width + config.max_new_tokens > loaded.context_tokens:
        raise ConfigError(
            f"prompt of {width} tokens plus max_new_tokens {config.max_new_tokens} exceeds the model's context of "
            f"{loaded.context_tokens} tokens; shorten the prompt or lower max_new_tokens"
        )
    model, device = loaded.model, loaded.device
    input_ids = torch.full((len(encoded), width), loaded.pad_id, dtype=torch.long)
    attention = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, ids in enumerate(encoded):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        attention[row, width - len(ids) :] = 1
    was_training = model.training
    model.eval()  # in train mode dropout would draw from torch's global RNG (and change the sample)
    try:
        with torch.inference_mode():
            generated, cancelled = decode_rows(
                loaded,
                input_ids.to(device),
                attention.to(device),
                encoded,
                seeds,
                require_text,
                [owes_space(p) for p in prompts],
                config,
                cancel,
                streamer,
            )
    finally:
        model.train(was_training)
    rows = [_Row(new_text(loaded.tokenizer, ids, prompts[row]), len(ids)) for row, ids in enumerate(generated)]
    return rows, cancelled


def _sample(
    loaded,
    author: str,
    prompt: str,
    row: _Row,
    config: SamplingConfig,
    seed: int,
    seconds: float,
    first_token_s: float | None,
    stopped: bool,
) -> Sample:
    """Every sample is finalised here, streamed or batched: the tweet is cut at its length limit once, for all."""
    sample = Sample(
        author=author,
        prompt=prompt,
        text=row.text,
        new_tokens=row.new_tokens,
        seconds=seconds,
        first_token_s=first_token_s,
        tokens_per_s=row.new_tokens / seconds if seconds > 0 else 0.0,
        config=config,
        model=loaded.info.spec,
        adapter=loaded.info.adapter,
        seed=seed,
        stopped=stopped,
        precision=loaded.info.precision,
    )
    text, cut = cap_tweet(row.text, len(sample.user_text))
    return dataclasses.replace(sample, text=text, cut_at_limit=True) if cut else sample


# --- streaming -----------------------------------------------------------------------------------


class _Finished:
    def __init__(self, sample: Sample):
        self.sample = sample


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


class SampleStream:
    """Text pieces of one sample as they are generated (iterate), then ``.sample``; ``cancel()`` from any thread.

    Generation runs in a daemon thread; an exception there is re-raised to the consumer. The consumer
    never waits forever: it checks that the thread is alive every 50 ms, and ``timeout_s`` (if given)
    bounds the whole sample. ``num_threads`` (if given) is torch's intra-op thread count for that thread
    alone (see ``engine.threads``).
    """

    def __init__(
        self,
        loaded,
        author: str,
        text: str,
        config: SamplingConfig,
        cancel: threading.Event | None,
        timeout_s: float | None = None,
        num_threads: int | None = None,
    ):
        self.author, self.prompt, self.config = author.strip().lstrip("@"), prompt_for(author, text), config.validated()
        self.user_text = text
        self.cancel_event = cancel if cancel is not None else threading.Event()
        self.timeout_s = timeout_s
        self.num_threads = num_threads
        self._queue: queue.Queue = queue.Queue()
        self._sample: Sample | None = None
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(loaded,), name="tweetsmith-generate", daemon=True)
        self._started = time.perf_counter()
        self._thread.start()

    def _run(self, loaded) -> None:
        try:
            if self.num_threads:
                from .threads import use_threads_in_this_thread

                use_threads_in_this_thread(self.num_threads)
            streamer = _PieceStreamer(loaded.tokenizer, self._queue, self.prompt, len(self.user_text))
            rows, cancelled = _generate(
                loaded,
                [self.prompt],
                [self.config.seed],
                self.config,
                require_text=[not self.user_text.strip()],
                cancel=self.cancel_event,
                streamer=streamer,
            )
            row = rows[0]
            seconds = time.perf_counter() - self._started
            first = streamer.first_token_at - self._started if streamer.first_token_at is not None else None
            sample = _sample(
                loaded, self.author, self.prompt, row, self.config, self.config.seed, seconds, first, cancelled
            )
            streamer._emit(sample.text)  # flush the word (or character) held back at the end, stopped or not
            self._queue.put(_Finished(sample))
        except BaseException as err:  # noqa: BLE001 - re-raised in the consumer's thread
            self._queue.put(_Failed(err))

    def cancel(self) -> None:
        """Ask generation to stop; it ends within one token step."""
        self.cancel_event.set()

    def __iter__(self) -> Iterator[str]:
        while not self._done:
            item = self._next_item()
            if isinstance(item, str):
                yield item
            elif isinstance(item, _Finished):
                self._sample, self._done = item.sample, True
            else:
                self._done = True
                raise item.error

    def _next_item(self):
        while True:
            try:
                return self._queue.get(timeout=POLL_S)
            except queue.Empty:
                pass
            if not self._thread.is_alive() and self._queue.empty():
                return _Failed(EngineError("generation thread ended without a result"))
            if self.timeout_s is not None and time.perf_counter() - self._started > self.timeout_s:
                self.cancel()
                return _Failed(EngineError(f"generation took longer than {self.timeout_s:g} s and was stopped"))

    @property
    def sample(self) -> Sample:
        """The finished sample (consumes any pieces not yet read)."""
        for _ in self:
            pass
        assert self._sample is not None
        return self._sample

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self._started


def stream_sample(
    loaded,
    author: str,
    text: str = "",
    config: SamplingConfig = SamplingConfig(),
    *,
    cancel: threading.Event | None = None,
    timeout_s: float | None = None,
    num_threads: int | None = None,
) -> SampleStream:
    """Start generating one sample for ``author`` (prompt ``\\author- text``) and stream its text.

    ``num_threads``: torch threads for this generation only (e.g. 1 while a training runs in the same
    process); None leaves torch's setting as it is.
    """
    return SampleStream(loaded, author, text, config, cancel, timeout_s, num_threads)


# --- batched -------------------------------------------------------------------------------------


def generate_samples(
    loaded,
    authors: Sequence[str],
    config: SamplingConfig = SamplingConfig(),
    *,
    text: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Sample]:
    """One sample per entry of ``authors`` (repeat an author for several), in batches; nothing is saved.

    Sample i uses seed ``config.seed + i``. On cancel, returns the samples of the batches that finished.
    """
    config = config.validated()
    if batch_size < 1:
        raise ConfigError(f"batch_size must be 1 or more, got {batch_size}")
    samples: list[Sample] = []
    for start in range(0, len(authors), batch_size):
        if cancel is not None and cancel.is_set():
            break
        chunk = list(authors[start : start + batch_size])
        prompts = [prompt_for(a, text) for a in chunk]
        seeds = [config.seed + start + j for j in range(len(chunk))]
        began = time.perf_counter()
        rows, cancelled = _generate(
            loaded, prompts, seeds, config, require_text=[not text.strip()] * len(prompts), cancel=cancel
        )
        if cancelled:
            break
        seconds = time.perf_counter() - began
        samples.extend(
            _sample(loaded, a.strip().lstrip("@"), p, r, config, s, seconds, None, False)
            for a, p, r, s in zip(chunk, prompts, rows, seeds)
        )
        if on_progress:
            on_progress(len(samples), len(authors))
    return samples
