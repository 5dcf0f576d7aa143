"""Generate samples for an author: streamed one at a time (the app) or batched (experiments, the CLI).

The prompt is ``\\author- `` plus any text (``data.records.prompt_for``), preceded by the end-of-text
token so the model sees the start of a record exactly as in training. A sample ends at the end-of-text
token, at a newline (checked on the decoded text, so a newline inside or across tokens counts; the text
is cut at the first one) or after ``max_new_tokens``.

Seeds: sample i of a request uses ``config.seed + i`` and records it. Each row samples from its own
``torch.Generator``, so a sample is the same whether it was generated alone or in a batch (up to float
rounding of padded batches), and ``--seed S -n 1`` reproduces the sample that recorded seed S.
Generation never touches torch's global RNG (the model runs in eval mode, so no dropout draws from it;
``generate`` itself only takes the greedy pick of the one-hot scores our sampler returns), so a training
in the same process keeps its own random stream.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from tweetsmith.data.records import prompt_for

from .errors import ConfigError, EngineError
from .sampling import SamplingConfig, logits_warpers

STOP_TEXT = "\n"
POLL_S = 0.05  # how often a waiting consumer checks that the generation thread is still alive


@dataclass(frozen=True)
class Sample:
    """One generated sample and everything needed to reproduce it."""

    author: str
    prompt: str  # the full prompt, e.g. "\\paulg- The best"
    text: str  # the generated continuation, cut at the first newline
    new_tokens: int  # tokens the model produced, the stop token included
    seconds: float  # wall time of the generate call that made it (its whole batch when batched)
    first_token_s: float | None  # streamed samples: time from the request to the first new token
    tokens_per_s: float  # new_tokens / seconds
    config: SamplingConfig
    model: str
    adapter: str | None
    seed: int
    stopped: bool = False  # cancelled before it ended by itself

    @property
    def user_text(self) -> str:
        """What the user typed after the author prefix."""
        prefix = prompt_for(self.author)
        return self.prompt[len(prefix):] if self.prompt.startswith(prefix) else self.prompt

    @property
    def full_text(self) -> str:
        """The tweet as a reader sees it: the user's text followed by the continuation."""
        return self.user_text + self.text

    def to_dict(self) -> dict:
        return {
            "author": self.author, "prompt": self.prompt, "text": self.text, "new_tokens": self.new_tokens,
            "seconds": self.seconds, "first_token_s": self.first_token_s, "tokens_per_s": self.tokens_per_s,
            "config": self.config.to_dict(), "model": self.model, "adapter": self.adapter, "seed": self.seed,
            "stopped": self.stopped,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Sample":
        return cls(
            author=d.get("author", ""), prompt=d.get("prompt", ""), text=d.get("text", ""),
            new_tokens=int(d.get("new_tokens", 0)), seconds=float(d.get("seconds", 0.0)),
            first_token_s=d.get("first_token_s"), tokens_per_s=float(d.get("tokens_per_s", 0.0)),
            config=SamplingConfig.from_dict(d.get("config") or {}), model=d.get("model", ""),
            adapter=d.get("adapter"), seed=int(d.get("seed", 0)), stopped=bool(d.get("stopped", False)),
        )


# --- generate() plumbing -------------------------------------------------------------------------


class _RowSampler:
    """Logits processor: warp (temperature, top-k, ...) then draw each row with its own generator.

    Returns scores that are -inf everywhere but the drawn token, so greedy selection in ``generate``
    takes it. A row's draws never depend on the other rows of its batch.
    """

    def __init__(self, config: SamplingConfig, seeds: Sequence[int], device):
        import torch

        self.warpers = logits_warpers(config)
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]

    def __call__(self, input_ids, scores):
        import torch

        for warper in self.warpers:
            scores = warper(input_ids, scores)
        # Inverse-CDF draw, one uniform per row from that row's generator (torch.multinomial costs
        # ~20 ms a row on a 49k vocabulary on CPU; this is ~0.2 ms). searchsorted(right=True) lands on
        # the first token whose cumulative probability exceeds u, which always has probability > 0.
        cdf = torch.softmax(scores.double(), dim=-1).cumsum(dim=-1)
        u = torch.cat([torch.rand(1, generator=g, dtype=torch.float64, device=scores.device) for g in self.generators])
        chosen = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True).clamp_(max=scores.shape[-1] - 1)
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, chosen, 0.0)
        return out


class _EndOfSample:
    """Stopping criterion: end-of-text, a newline in the decoded new text, or the caller's cancel event.

    Records for each row how many new tokens it had when it ended (the stop token included).
    """

    def __init__(self, tokenizer, prompt_width: int, eot_id: int, batch: int, cancel: threading.Event | None):
        self.tokenizer, self.prompt_width, self.eot_id, self.cancel = tokenizer, prompt_width, eot_id, cancel
        self.ended_at: list[int | None] = [None] * batch
        self.cancelled = False
        self._has_stop: dict[tuple[int, ...], bool] = {}

    def _stops(self, tail: tuple[int, ...]) -> bool:
        # Two tokens, so a newline split over byte-level tokens is still seen.
        if tail not in self._has_stop:
            self._has_stop[tail] = STOP_TEXT in self.tokenizer.decode(list(tail), skip_special_tokens=True)
        return self._has_stop[tail]

    def __call__(self, input_ids, scores=None, **kwargs):
        import torch

        batch = input_ids.shape[0]
        if self.cancel is not None and self.cancel.is_set():
            self.cancelled = True
            return torch.ones(batch, dtype=torch.bool, device=input_ids.device)
        n_new = input_ids.shape[1] - self.prompt_width
        tails = input_ids[:, max(self.prompt_width, input_ids.shape[1] - 2):].tolist()
        for row in range(batch):
            if self.ended_at[row] is None and (tails[row][-1] == self.eot_id or self._stops(tuple(tails[row]))):
                self.ended_at[row] = n_new
        return torch.tensor([e is not None for e in self.ended_at], dtype=torch.bool, device=input_ids.device)


class _PieceStreamer:
    """A ``generate`` streamer that decodes as tokens arrive and queues the new text pieces.

    Unlike TextIteratorStreamer it emits text at every token (holding back only an incomplete UTF-8
    character) and notes when the first new token arrived.
    """

    def __init__(self, tokenizer, out: "queue.Queue", prompt: str):
        self.tokenizer, self.out, self.prompt = tokenizer, out, prompt
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
        text = new_text(self.tokenizer, self.ids, self.prompt)
        if text.endswith("\ufffd"):
            return
        self._emit(text)

    def _emit(self, text: str) -> None:
        if len(text) > len(self.emitted) and text.startswith(self.emitted):
            self.out.put(text[len(self.emitted):])
            self.emitted = text

    def end(self) -> None:
        pass


def _decode(tokenizer, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)


def cut_at_stop(text: str) -> str:
    """The text up to (not including) the first newline."""
    index = text.find(STOP_TEXT)
    return text if index < 0 else text[:index]


def _prompt_ids(loaded, prompt: str) -> list[int]:
    # Encoded without trailing spaces: in training the space before a word belongs to the word's token
    # ("\\paulg- The" is "...-", " The"), so a prompt ending in " " asks for a sequence never seen and
    # the model answers with stray spaces and handles. new_text() gives the space back.
    return [loaded.eot_id] + loaded.tokenizer(prompt.rstrip(" "), add_special_tokens=False)["input_ids"]


def new_text(tokenizer, ids: Sequence[int], prompt: str) -> str:
    """A sample's text from its new tokens: minus the spaces the prompt already ended with, up to the first newline."""
    text = _decode(tokenizer, ids)
    owed = len(prompt) - len(prompt.rstrip(" "))
    lead = len(text) - len(text.lstrip(" "))
    return cut_at_stop(text[min(owed, lead):])


@dataclass(frozen=True)
class _Row:
    text: str
    new_tokens: int


def _generate(loaded, prompts: Sequence[str], seeds: Sequence[int], config: SamplingConfig, *,
              cancel: threading.Event | None = None, streamer=None) -> tuple[list[_Row], bool]:
    """One ``generate`` call on left-padded prompts; returns the rows and whether it was cancelled."""
    import torch
    from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

    encoded = [_prompt_ids(loaded, p) for p in prompts]
    width = max(len(ids) for ids in encoded)
    if width + config.max_new_tokens > loaded.context_tokens:
        raise ConfigError(
            f"prompt of {width} tokens plus max_new_tokens {config.max_new_tokens} exceeds the model's context of "
            f"{loaded.context_tokens} tokens; shorten the prompt or lower max_new_tokens"
        )
    # Left padding: every row's last prompt token sits at the same position, where generation starts.
    input_ids = torch.full((len(encoded), width), loaded.pad_id, dtype=torch.long)
    attention = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, ids in enumerate(encoded):
        input_ids[row, width - len(ids):] = torch.tensor(ids)
        attention[row, width - len(ids):] = 1
    device = loaded.device
    gen_config = GenerationConfig(
        max_new_tokens=config.max_new_tokens, do_sample=False, eos_token_id=loaded.eot_id, pad_token_id=loaded.pad_id,
        repetition_penalty=config.repetition_penalty if config.repetition_penalty != 1.0 else None,
        no_repeat_ngram_size=config.no_repeat_ngram_size or None,
    )
    processors = LogitsProcessorList([] if config.greedy else [_RowSampler(config, seeds, device)])
    end = _EndOfSample(loaded.tokenizer, width, loaded.eot_id, len(encoded), cancel)
    model = loaded.model
    was_training = model.training
    model.eval()  # in train mode dropout would draw from torch's global RNG (and change the sample)
    try:
        out = model.generate(
            input_ids=input_ids.to(device), attention_mask=attention.to(device), generation_config=gen_config,
            logits_processor=processors, stopping_criteria=StoppingCriteriaList([end]), streamer=streamer,
        )
    finally:
        model.train(was_training)
    new = out[:, width:].tolist()
    rows = []
    for row, ids in enumerate(new):
        n = end.ended_at[row] if end.ended_at[row] is not None else len(ids)
        rows.append(_Row(new_text(loaded.tokenizer, ids[:n], prompts[row]), n))
    return rows, end.cancelled


def _sample(loaded, author: str, prompt: str, row: _Row, config: SamplingConfig, seed: int, seconds: float,
            first_token_s: float | None, stopped: bool) -> Sample:
    return Sample(
        author=author, prompt=prompt, text=row.text, new_tokens=row.new_tokens, seconds=seconds,
        first_token_s=first_token_s, tokens_per_s=row.new_tokens / seconds if seconds > 0 else 0.0, config=config,
        model=loaded.info.spec, adapter=loaded.info.adapter, seed=seed, stopped=stopped,
    )


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

    def __init__(self, loaded, author: str, text: str, config: SamplingConfig, cancel: threading.Event | None,
                 timeout_s: float | None = None, num_threads: int | None = None):
        self.author, self.prompt, self.config = author.strip().lstrip("@"), prompt_for(author, text), config.validated()
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
            streamer = _PieceStreamer(loaded.tokenizer, self._queue, self.prompt)
            rows, cancelled = _generate(loaded, [self.prompt], [self.config.seed], self.config,
                                        cancel=self.cancel_event, streamer=streamer)
            row = rows[0]
            if not cancelled:
                streamer._emit(row.text)  # flush a character that was held back at the very end
            seconds = time.perf_counter() - self._started
            first = streamer.first_token_at - self._started if streamer.first_token_at is not None else None
            sample = _sample(loaded, self.author, self.prompt, row, self.config, self.config.seed, seconds, first, cancelled)
            self._queue.put(_Finished(sample))
        except BaseException as err:  # re-raised in the consumer's thread
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


def stream_sample(loaded, author: str, text: str = "", config: SamplingConfig = SamplingConfig(), *,
                  cancel: threading.Event | None = None, timeout_s: float | None = None,
                  num_threads: int | None = None) -> SampleStream:
    """Start generating one sample for ``author`` (prompt ``\\author- text``) and stream its text.

    ``num_threads``: torch threads for this generation only (e.g. 1 while a training runs in the same
    process); None leaves torch's setting as it is.
    """
    return SampleStream(loaded, author, text, config, cancel, timeout_s, num_threads)


# --- batched -------------------------------------------------------------------------------------


def generate_samples(loaded, authors: Sequence[str], config: SamplingConfig = SamplingConfig(), *, text: str = "",
                     batch_size: int = 16, cancel: threading.Event | None = None,
                     on_progress: Callable[[int, int], None] | None = None) -> list[Sample]:
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
        chunk = list(authors[start:start + batch_size])
        prompts = [prompt_for(a, text) for a in chunk]
        seeds = [config.seed + start + j for j in range(len(chunk))]
        began = time.perf_counter()
        rows, cancelled = _generate(loaded, prompts, seeds, config, cancel=cancel)
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
