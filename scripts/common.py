"""Helpers every command shares: flags built from config dataclasses, notices and progress on stderr."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
import time
import typing
from collections.abc import Callable
from typing import Any


def add_config_arguments(
    parser: argparse._ActionsContainer,  # a parser or an argument group: argparse's (private) common base
    cls: type,
    *,
    exclude: tuple[str, ...] = (),
    defaults: dict[str, Any] | None = None,
) -> None:
    """One ``--flag`` per field of the config dataclass ``cls``, with the field's help and default
    (``defaults`` overrides a field's default for this command).

    A flag's text is read by the field's type through ``engine.config.value_from_string``, the reader of the
    training form and ``/assignment key=value``, so a bad value gets the same one line wherever it is typed.
    Two kinds of field have nothing to read: a bool is a switch (``--lora`` / ``--no-lora``), and free text
    (a str without choices: a path, an author) is the value as typed (``prepare --author=`` keeps the
    records authorless, where a form's empty box means the default)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in exclude:
            continue
        flag = field.metadata.get("flag") or "--" + field.name.replace("_", "-")
        # argparse %-formats help strings ("%(default)s"): a bare % ("~30% slower") would garble it.
        help_text = _escape(field.metadata.get("help", ""))
        kind = _base_type(hints[field.name])
        default = field.default if field.default is not dataclasses.MISSING else None
        default = (defaults or {}).get(field.name, default)
        if kind is bool:
            parser.add_argument(
                flag, dest=field.name, action=argparse.BooleanOptionalAction, default=default, help=help_text
            )
            continue
        choices = field.metadata.get("choices")
        parser.add_argument(
            flag,
            dest=field.name,
            type=str if kind is str and not choices else _field_reader(cls, field.name),  # free text: as typed
            default=default,
            # the choices shown as argparse shows them, checked by the reader (which also reads "none")
            metavar="{" + ",".join(map(str, choices)) + "}" if choices else None,
            help=f"{help_text} (default: {_escape(default)})" if default not in (None, "") else help_text,
        )


def _field_reader(cls: type, name: str) -> Callable[[str], Any]:
    """argparse's ``type`` for field ``name``: the text through ``value_from_string``, its ``ConfigError`` as
    argparse's error (``argument --lr: lr: 'abc' is not a number``). argparse runs a str default through it
    too (``--pack``'s "concat"): a valid choice reads as itself."""
    from tweetsmith.engine.config import value_from_string
    from tweetsmith.engine.errors import ConfigError

    def read(text: str) -> Any:
        try:
            return value_from_string(cls, name, text)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    read.__name__ = name  # argparse names a type by it in its own messages
    return read


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """The sampling flags (``SamplingConfig`` but the sample count, which each command names itself) and
    ``--batch-size``: what every command that draws samples of a run takes."""
    from tweetsmith.engine.generate import DEFAULT_BATCH_SIZE
    from tweetsmith.engine.sampling import SamplingConfig

    add_config_arguments(parser, SamplingConfig, exclude=("num_samples",))
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"samples generated together (default: {DEFAULT_BATCH_SIZE})",
    )


def add_precision_argument(parser: argparse._ActionsContainer) -> None:
    """``--precision`` of scoring and sampling (``engine.precision.InferenceSettings``): one definition for
    every command that loads a model to score or sample."""
    from tweetsmith.engine.precision import InferenceSettings

    add_config_arguments(parser, InferenceSettings)


def add_samples_argument(parser: argparse.ArgumentParser) -> None:
    """The SAMPLES argument of the commands that score a samples file (``metrics``, ``memorisation``)."""
    parser.add_argument(
        "samples", metavar="SAMPLES", help="a samples .jsonl (from tweetsmith sample) or a text file, one sample a line"
    )


def read_samples_argument(path: str) -> list:
    """SAMPLES read to score (``samples_io.read_scored_texts``); a file without one is a one-line error."""
    from tweetsmith.data.errors import DataError
    from tweetsmith.engine.samples_io import read_scored_texts

    items = read_scored_texts(path)
    if not items:
        raise DataError(f"{path}: no samples in it")
    return items


def _escape(value: Any) -> str:
    """Text as argparse help: argparse %-formats it, so a literal % is written %%."""
    return str(value).replace("%", "%%")


def _base_type(hint: Any) -> type:
    """``int | None`` -> int; ``str`` -> str."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def config_from_args(cls: type, args: argparse.Namespace, **overrides: Any):
    """Build ``cls`` from the parsed flags (fields the parser lacks keep their defaults)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    values.update(overrides)
    return cls(**values)


def notice(message: str) -> None:
    """One plain line for the user on stderr (stdout stays clean for --json)."""
    print(message, file=sys.stderr, flush=True)


def print_result(result, as_json: bool, table) -> int:
    """A result's note on stderr, then on stdout one JSON object (its ``to_json``: what its file holds) or
    ``table(result)``; returns the exit code, 0."""
    import json

    if result.note:
        notice(result.note)
    print(json.dumps(result.to_json(), indent=2, ensure_ascii=False) if as_json else table(result))
    return 0


class ProgressLine:
    """A single self-overwriting progress line on stderr: ``label [#####.....] 50% extra``.

    When stderr is not a terminal (a log file, CI) it prints a plain line every
    ``TWEETSMITH_PROGRESS_EVERY_S`` seconds (10) instead, as training does, so a long evaluation in a log
    still shows that it moves.
    """

    def __init__(self, label: str, total: int | None = None, width: int = 30, min_interval_s: float = 0.1):
        from .train_progress import PLAIN_EVERY_S

        self.label, self.total, self.width = label, total, width
        self._tty = sys.stderr.isatty()
        self.min_interval_s = min_interval_s if self._tty else PLAIN_EVERY_S
        self._last = 0.0 if self._tty else time.monotonic()

    def update(self, done: int, extra: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.min_interval_s:
            return
        self._last = now
        if self.total:
            filled = int(self.width * min(done, self.total) / self.total)
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {100 * done / self.total:3.0f}%"
        else:
            bar = str(done)
        line = f"{self.label} {bar} {extra}".rstrip()
        print(
            ("\r" + line + "\x1b[K") if self._tty else line, end="" if self._tty else "\n", file=sys.stderr, flush=True
        )

    def close(self, message: str = "") -> None:
        if self._tty:
            print("\r\x1b[K", end="", file=sys.stderr)
        if message:
            print(message, file=sys.stderr, flush=True)


class StageLine:
    """One ``ProgressLine`` per stage: a new stage closes the previous stage's line and opens its own."""

    def __init__(self):
        self.stage = None
        self.line: ProgressLine | None = None

    def show(self, stage: str, label: str, done: int, total: int | None, extra: str = "", force: bool = False) -> None:
        if stage != self.stage or self.line is None:
            self.close()
            self.stage = stage
            self.line = ProgressLine(label, total=total or None)
        self.line.total = total or None
        self.line.update(done, extra, force=force)

    def close(self) -> None:
        if self.line:
            self.line.close()
            self.line = None


def install_stop_handler(cancel: threading.Event, message: str | None):
    """First Ctrl-C sets ``cancel`` (the work stops at its next safe point and says so, ``message`` on
    stderr), a second aborts at once. Returns the previous handler (None off the main thread, where
    Python allows no handler: a test worker, say)."""

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        if message:
            print(f"\n{message}", file=sys.stderr, flush=True)

    try:
        return signal.signal(signal.SIGINT, handler)
    except ValueError:
        return None


def voice_note(fit) -> str:
    """What the voice rows are measured against (an ``engine.voice_results.ClassifierFit``, None with one author)."""
    if fit is None:
        return "(voice: attribution needs two or more authors; authenticity: a classifier telling samples from test tweets)"
    return (
        f"(voice: real test tweets are attributed to their author {fit.test_accuracy.value:.2f} of the time, "
        f"chance {fit.chance:.3f}; authenticity: a classifier telling samples from as many test tweets of the "
        "same authors, cross-validated; `tweetsmith voice RUN` gives them per author)"
    )
