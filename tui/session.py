"""The chat session: every sample with its parameters, appended to a jsonl file and exported as markdown.

A session lives in the run directory (``RUN/samples/chat.jsonl``; the layout is in docs/definitions.md) so
reopening the run shows it again; without a run it lives in the user cache, one file per model.
Each line is one ``ChatEntry``, appended a line at a time (``engine.jsonl``); a last line torn by a crash
is left out on load, with a notice.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tweetsmith.engine.decode_loop import TWEET_MAX_CHARS
from tweetsmith.engine.generate import clean_sample_text
from tweetsmith.engine.sampling import OPTIONAL_KNOBS

if TYPE_CHECKING:
    from tweetsmith.engine.sample_record import Sample
    from tweetsmith.engine.sampling import SamplingConfig
    from tweetsmith.engine.sides import Side

SESSION_FILE = "chat.jsonl"


@dataclass(frozen=True)
class ChatEntry:
    """One generated sample as the chat shows it and the session file stores it."""

    author: str
    prompt_text: str  # text the user asked to continue ("" for none)
    text: str  # the generated continuation
    side: Side = "base"  # "base" or "tuned"
    model: str = ""
    adapter: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # the SamplingConfig's fields
    seed: int | None = None
    new_tokens: int = 0
    seconds: float = 0.0
    first_token_s: float | None = None
    tokens_per_s: float = 0.0
    stopped: bool = False  # cut short by Esc (or an error) before it ended by itself
    error: str = ""  # what cut it, when an error did
    cut_at_limit: bool = False  # the tweet reached its length limit and was cut there (``Sample.cut_at_limit``)
    created: str = ""

    @property
    def full_text(self) -> str:
        """The prompt text and its continuation, as the card shows it."""
        return self.prompt_text + self.text  # exactly what the model continued: no space added

    def param_line(self) -> str:
        """``t 0.9 · k 50 · p 1.0 · seed 0``: the parameters that made this sample."""
        p = self.params
        parts = []
        if "temperature" in p:
            parts.append(f"t {p['temperature']:g}")
        if "top_k" in p:
            parts.append(f"k {p['top_k']}")
        if "top_p" in p:
            parts.append(f"p {p['top_p']:g}")
        for name, short, _, off in OPTIONAL_KNOBS:  # the engine's knobs and labels (``SamplingConfig.short``)
            value = p.get(name)
            if value is not None and value != off:
                parts.append(f"{short} {value:g}")
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        return " · ".join(parts)

    def stats_line(self) -> str:
        """``31 tok · first 0.12 s · 14.2 tok/s``: what it cost."""
        parts = [f"{self.new_tokens} tok"]
        if self.first_token_s is not None:
            parts.append(f"first {self.first_token_s:.2f} s")
        parts.append(f"{self.tokens_per_s:.1f} tok/s")
        if self.cut_at_limit:
            parts.append(f"cut at {TWEET_MAX_CHARS} characters")
        if self.error:
            parts.append(f"cut by an error: {self.error}")
        elif self.stopped:
            parts.append("stopped")
        return " · ".join(parts)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> ChatEntry:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in names})


def entry_from_sample(sample: Sample, *, side: Side, prompt_text: str | None = None) -> ChatEntry:
    """A ChatEntry from the engine's ``Sample``, field by field (a renamed field fails here, loudly, instead
    of being saved as a default). The typed text is cleaned of control characters as the sample's text is
    (``clean_sample_text``); the engine's ``Sample.prompt`` keeps what the model was given."""
    return ChatEntry(
        author=sample.author,
        prompt_text=clean_sample_text(sample.user_text if prompt_text is None else prompt_text),
        text=sample.text,
        side=side,
        model=sample.model,
        adapter=sample.adapter,
        params=sample.config.to_dict(),
        seed=sample.seed,
        new_tokens=sample.new_tokens,
        seconds=sample.seconds,
        first_token_s=sample.first_token_s,
        tokens_per_s=sample.tokens_per_s,
        stopped=sample.stopped,
        cut_at_limit=sample.cut_at_limit,
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )


def entry_from_failure(
    author: str, prompt_text: str, partial: str, *, side: Side, config: SamplingConfig, error: str
) -> ChatEntry:
    """A ChatEntry of the ``partial`` text a sample had when ``error`` cut it (asked with ``config``, its seed
    included): kept in the session, marked stopped, as the card keeps it."""
    return ChatEntry(
        author=author,
        prompt_text=clean_sample_text(prompt_text),
        text=clean_sample_text(partial),
        side=side,
        params=config.to_dict(),
        seed=config.seed,
        stopped=True,
        error=error,
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )


class Session:
    """The entries of this chat, mirrored to ``path`` (jsonl, one entry appended per sample)."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None
        self.entries: list[ChatEntry] = []
        self.torn: str | None = None  # set by load(): the notice for a torn last line

    def load(self) -> list[ChatEntry]:
        """Read the saved entries and return them; a last line torn by a crash is left out and named in
        ``self.torn`` (the chat shows it), an entry that is not an object is skipped."""
        from tweetsmith.engine.jsonl import BrokenJsonLines, read_jsonl

        self.entries, self.torn = [], None
        if self.path is None or not self.path.is_file():
            return self.entries
        try:
            # read_jsonl splits at "\n" only: str.splitlines() also splits at U+2028 or \x85, left raw by json.dumps
            read = read_jsonl(self.path)
        except BrokenJsonLines as err:  # a broken line inside the file: not ours to guess at; start afresh
            self.torn = f"{err}; the chat starts empty (the file is kept)"
            return self.entries
        self.torn = read.torn
        for record in read.records:
            try:
                entry = ChatEntry.from_dict(record)
            except (TypeError, AttributeError):  # AttributeError: a line that isn't an object
                continue
            # a session saved before samples were cleaned of control characters shows clean text too
            self.entries.append(
                dataclasses.replace(
                    entry, prompt_text=clean_sample_text(entry.prompt_text), text=clean_sample_text(entry.text)
                )
            )
        return self.entries

    def add(self, entry: ChatEntry) -> None:
        """Keep the entry and append it to the file: one line written, the file never rewritten (a torn
        last line from a crash is cut off first, ``engine.jsonl``)."""
        from tweetsmith.engine.jsonl import append_jsonl

        self.entries.append(entry)
        if self.path is not None:
            append_jsonl(self.path, [dataclasses.asdict(entry)])

    def clear(self) -> Path | None:
        """Empty the chat; the old file is kept beside it as ``chat-<time>[-N].jsonl``. Returns that path."""
        self.entries = []
        if self.path is None or not self.path.is_file():
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        archived, n = self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}"), 1
        while archived.exists():  # two clears within a second: a second archive, never the first one replaced
            n += 1
            archived = self.path.with_name(f"{self.path.stem}-{stamp}-{n}{self.path.suffix}")
        self.path.rename(archived)
        return archived

    def texts(self, author: str | None = None) -> list[str]:
        """Generated texts (continuations) of this session, optionally for one author."""
        return [e.text for e in self.entries if e.text.strip() and (author is None or e.author == author)]

    def to_markdown(self, title: str = "tweetsmith chat") -> str:
        return session_markdown(self.entries, title)


def session_markdown(entries: Iterable[ChatEntry], title: str = "tweetsmith chat") -> str:
    """The chat as markdown: one section per sample, the text quoted, its parameters and costs below.

    Every line goes through the engine's ``clean_sample_text``: new samples hold no control character
    already, but a session saved before they were cleaned (or a typed prompt) may, and a raw ``\\r``
    or escape sequence in the file breaks the quote in a markdown viewer or recolours a terminal."""
    out = [f"# {title}", ""]
    for entry in entries:
        who = f"@{entry.author}" if entry.author else "(no author)"
        model = entry.model + (f" + {entry.adapter}" if entry.adapter else "")
        out.append(clean_sample_text(f"### {who} · {entry.side} · {model}".rstrip(" ·")))
        out.append("")
        for line in (entry.full_text or "(empty)").splitlines() or [""]:
            out.append(f"> {clean_sample_text(line)}")
        out.append("")
        out.append(clean_sample_text(f"*{entry.param_line()} · {entry.stats_line()}*"))
        out.append("")
    return "\n".join(out)


def default_session_path(run_dir: Path | None, model_name: str, home: Path) -> Path:
    """``RUN/samples/chat.jsonl`` for a run, else ``HOME/sessions/<model>.jsonl``."""
    if run_dir is not None:
        from tweetsmith.engine.runs import RunPaths

        return RunPaths(Path(run_dir)).samples / SESSION_FILE
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_name).strip("_") or "model"
    return home / "sessions" / f"{safe}.jsonl"
