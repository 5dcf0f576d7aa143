"""One generated sample as it crosses back to the caller and as it is stored: ``Sample``.

Its own module because everything downstream of generation reads it without generating anything: the
samples files (``samples_io``), the sample cache, the metrics, the app's cards and its chat session.
``to_dict``/``from_dict`` are its JSONL form; a field added later reads from older files by its default.
"""

from __future__ import annotations

from dataclasses import dataclass

from tweetsmith.data.records import prompt_for

from .sampling import SamplingConfig


@dataclass(frozen=True)
class Sample:
    """One generated sample and everything needed to reproduce it."""

    author: str
    prompt: str  # the full prompt, e.g. "\\paulg- The best"
    text: str  # the generated continuation, cut at the first line break, control characters removed
    new_tokens: int  # tokens the model produced, the stop token included
    seconds: float  # wall time of the generate call that made it (its whole batch when batched)
    first_token_s: float | None  # streamed samples: time from the request to the first new token
    tokens_per_s: float  # new_tokens / seconds
    config: SamplingConfig
    model: str
    adapter: str | None
    seed: int
    stopped: bool = False  # cancelled before it ended by itself
    cut_at_limit: bool = False  # typed text + sample ran past decode_loop.TWEET_MAX_CHARS: cut there (``cap_tweet``)
    precision: str | None = None  # the model's compute precision ("fp32", "bf16"); None: not recorded (older files)

    @property
    def user_text(self) -> str:
        """What the user typed after the author prefix."""
        prefix = prompt_for(self.author)
        return self.prompt[len(prefix) :] if self.prompt.startswith(prefix) else self.prompt

    @property
    def full_text(self) -> str:
        """The tweet as a reader sees it: the user's text followed by the continuation."""
        return self.user_text + self.text

    def to_dict(self) -> dict:
        return {
            "author": self.author,
            "prompt": self.prompt,
            "text": self.text,
            "new_tokens": self.new_tokens,
            "seconds": self.seconds,
            "first_token_s": self.first_token_s,
            "tokens_per_s": self.tokens_per_s,
            "config": self.config.to_dict(),
            "model": self.model,
            "adapter": self.adapter,
            "seed": self.seed,
            "stopped": self.stopped,
            "cut_at_limit": self.cut_at_limit,
            "precision": self.precision,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Sample:
        return cls(
            author=d.get("author", ""),
            prompt=d.get("prompt", ""),
            text=d.get("text", ""),
            new_tokens=int(d.get("new_tokens", 0)),
            seconds=float(d.get("seconds", 0.0)),
            first_token_s=d.get("first_token_s"),
            tokens_per_s=float(d.get("tokens_per_s", 0.0)),
            config=SamplingConfig.from_dict(d.get("config") or {}),
            model=d.get("model", ""),
            adapter=d.get("adapter"),
            seed=int(d.get("seed", 0)),
            stopped=bool(d.get("stopped", False)),
            cut_at_limit=bool(d.get("cut_at_limit", False)),
            precision=d.get("precision"),
        )
