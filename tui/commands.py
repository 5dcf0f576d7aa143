"""What the user typed: a slash command (``/temp 0.8``) or a prompt (``paulg: The best startups``).

Pure parsing, no Textual and no engine: the screen turns a ``Command`` into an action and a ``Prompt``
into a generation. Range checks of sampling values belong to the engine's ``SamplingConfig``; here
we only check that a value has the right shape, so every error is one short line for the input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tweetsmith.engine.train_config import TrainConfig


class CommandError(ValueError):
    """A line the app can't act on; the message is shown inline under the input, so it is one line:
    a line break typed or pasted into the input (U+2028, say) and echoed in the message becomes a space."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.splitlines()))


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str
    help: str
    parse: Callable[[str, CommandSpec], object] | None = None  # None: takes no argument
    aliases: tuple[str, ...] = ()
    field: str | None = None  # the SamplingConfig field the command sets, if any


@dataclass(frozen=True)
class Command:
    name: str  # the canonical name, without the slash
    value: object = None


@dataclass(frozen=True)
class Prompt:
    """Generate for ``author`` (may be empty: no prefix), continuing ``text``."""

    author: str
    text: str = ""

    def as_input(self) -> str:
        return f"{self.author}: {self.text}" if self.text else self.author


def _float(arg: str, spec: CommandSpec) -> float:
    try:
        return float(arg)
    except ValueError:
        raise CommandError(f"/{spec.name} needs a number, e.g. {spec.usage}") from None


def _int(arg: str, spec: CommandSpec) -> int:
    try:
        return int(arg)
    except ValueError:
        raise CommandError(f"/{spec.name} needs a whole number, e.g. {spec.usage}") from None


def _text(arg: str, spec: CommandSpec) -> str:
    if not arg:
        raise CommandError(f"/{spec.name} needs an argument: {spec.usage}")
    return arg


def _optional_text(arg: str, spec: CommandSpec) -> str | None:
    return arg or None


def _seed(arg: str, spec: CommandSpec) -> int | None:
    """``/seed 7`` pins the seed; ``/seed auto`` (None) goes back to a fresh seed per request."""
    if arg.lower() == "auto":
        return None
    try:
        return int(arg)
    except ValueError:
        raise CommandError(f"/seed needs a whole number or auto, e.g. {spec.usage} or /seed auto") from None


def _optional_prompt(arg: str, spec: CommandSpec) -> Prompt | None:
    return parse_prompt(arg) if arg else None


SWEEP_PARAMS = {
    "temp": "temperature",
    "temperature": "temperature",
    "t": "temperature",
    "k": "top_k",
    "top_k": "top_k",
    "p": "top_p",
    "top_p": "top_p",
}


DEFAULT_SWEEP_SAMPLES = 20  # per value: enough for a trend in a minute or two on a CPU


@dataclass(frozen=True)
class SweepRequest:
    field: str  # temperature, top_k or top_p
    values: tuple[float, ...] | None = None  # None: the engine's default grid
    samples: int = DEFAULT_SWEEP_SAMPLES  # samples per value


def _sweep(arg: str, spec: CommandSpec) -> SweepRequest:
    words = arg.split()
    samples = DEFAULT_SWEEP_SAMPLES
    for word in [w for w in words if w.lower().startswith("n=")]:
        words.remove(word)
        try:
            samples = int(word[2:])
        except ValueError:
            raise CommandError("/sweep n= takes a whole number of samples per value, e.g. n=50") from None
        if samples < 2:
            raise CommandError("/sweep needs n=2 or more samples per value (self-BLEU compares samples)")
    if not words:
        return SweepRequest("temperature", None, samples)
    field = SWEEP_PARAMS.get(words[0].lower())
    if field is None:
        raise CommandError(f"/sweep takes temp, k or p (got {words[0]!r}), e.g. {spec.usage}")
    try:
        values = tuple(float(w) for w in words[1:]) or None
    except ValueError:
        raise CommandError(f"/sweep values must be numbers, e.g. {spec.usage}") from None
    if values and not all(math.isfinite(v) for v in values):  # nan, inf, 1e400
        raise CommandError(f"/sweep values must be finite numbers, e.g. {spec.usage}")
    if field == "top_k" and values:
        if any(v != int(v) for v in values):
            raise CommandError("/sweep k values must be whole numbers, e.g. /sweep k 5 20 50")
        values = tuple(int(v) for v in values)
    return SweepRequest(field, values, samples)


@dataclass(frozen=True)
class ScoreRequest:
    """``/score TEXT``: score ``text`` for ``author`` (None: the chat's current author)."""

    author: str | None
    text: str


def _score(arg: str, spec: CommandSpec) -> ScoreRequest:
    """``\\paulg- text``, ``paulg: text`` or bare text (the current author's)."""
    if not arg:
        raise CommandError(f"/score needs a text: {spec.usage}")
    if arg.startswith("\\"):
        from tweetsmith.data.records import parse_line

        record = parse_line(arg)
        return ScoreRequest(record.author, record.text)
    head, colon, text = arg.partition(":")
    if colon and head.strip() and " " not in head.strip() and text.strip():
        return ScoreRequest(head.strip().lstrip("@"), text.strip())
    return ScoreRequest(None, arg)


@dataclass(frozen=True)
class AssignmentRequest:
    """``/assignment SOURCE... [out=DIR] [n=100] [ablation=20] [training_flag=value ...]``: the whole pipeline
    from the app."""

    sources: tuple[str, ...]
    builtin: str | None = None
    out: str | None = None
    samples: int = 100
    train: tuple[tuple[str, object], ...] = ()  # TrainConfig fields to set, e.g. (("max_steps", 20),)
    ablation_steps: int = 0  # > 0: the ablation's short runs, this many steps each


def assignment_training() -> TrainConfig:
    """What the app's pipeline trains unless told otherwise: LoRA, no evaluation during the run
    (``tweetsmith assignment`` trains all weights by default)."""
    from tweetsmith.engine.train_config import TrainConfig

    return TrainConfig(lora=True, eval_every=0)


def _assignment(arg: str, spec: CommandSpec) -> AssignmentRequest:
    """Sources are words without ``=``; ``sotu`` is the built-in corpus; ``name=value`` sets out, n, ablation
    (steps of each short run) or any training flag (``max_steps=20``, ``lr=1e-4``, ``lora=false``), read and
    checked as the training form reads its fields (``engine.config.config_from_strings``)."""
    import dataclasses

    from tweetsmith.engine.train_config import TrainConfig

    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"data", "out", "resume"}
    sources, builtin, out, samples, texts, ablation = [], None, None, 100, {}, 0
    for word in arg.split():
        name, equals, value = word.partition("=")
        if not equals:
            if word.lower() == "sotu":
                builtin = "sotu"
            else:
                sources.append(word)
            continue
        name = name.lower().replace("-", "_")
        if name == "out":
            out = value
        elif name in ("n", "samples"):
            samples = _whole(value, "n", spec)
            if samples < 2:
                raise CommandError("/assignment needs n=2 or more samples (self-BLEU compares samples)")
        elif name == "ablation":
            ablation = _whole(value, "ablation", spec)
            if ablation < 1:
                raise CommandError(
                    "/assignment ablation= takes the steps of each short run: 1 or more, e.g. ablation=20"
                )
        elif name in fields:
            texts[name] = value
        else:
            raise CommandError(
                f"/assignment: unknown setting {name!r}; use out=, n=, ablation= or a training flag such as max_steps=20"
            )
    train = _training_settings(texts)
    if not sources and builtin is None:
        raise CommandError(
            f"/assignment needs a source: a file (tweets.js, CSV, JSONL, lines) or sotu, e.g. {spec.usage}"
        )
    return AssignmentRequest(tuple(sources), builtin, out, samples, train, ablation)


def _training_settings(texts: dict[str, str]) -> tuple[tuple[str, object], ...]:
    """The training flags typed as ``name=value``, read and checked on the pipeline's training defaults: a bad
    value is the same one line the training form shows for it."""
    from tweetsmith.engine.config import config_from_strings
    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.train_config import TrainConfig

    try:
        config = config_from_strings(TrainConfig, texts, base=assignment_training())
    except ConfigError as err:
        raise CommandError(str(err)) from None
    return tuple((name, getattr(config, name)) for name in texts)


def _whole(value: str, name: str, spec: CommandSpec) -> int:
    try:
        return int(value)
    except ValueError:
        raise CommandError(f"/assignment {name}= takes a whole number, e.g. {spec.usage}") from None


COMMAND_SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "temp", "/temp 0.8", "sampling temperature (higher: more varied)", _float, ("temperature", "t"), "temperature"
    ),
    CommandSpec("k", "/k 25", "top-k: sample among the k likeliest tokens (0: off)", _int, ("top_k", "topk"), "top_k"),
    CommandSpec(
        "p",
        "/p 0.9",
        "top-p (nucleus): smallest set of tokens with this much probability",
        _float,
        ("top_p", "topp"),
        "top_p",
    ),
    CommandSpec("n", "/n 5", "samples per Enter, streamed one after another", _int, ("samples",), "num_samples"),
    CommandSpec("max", "/max 60", "most new tokens per sample", _int, ("max_new_tokens",), "max_new_tokens"),
    CommandSpec(
        "seed", "/seed 1", "pin the seed (sample i of n uses seed + i); /seed auto: a fresh one per Enter", _seed
    ),
    CommandSpec("model", "/model smollm2-135m", "load another model (hub id, directory, .gguf or smollm2-135m)", _text),
    CommandSpec("run", "/run runs/vc", "open a run directory (its base and tuned models)", _text),
    CommandSpec("base", "/base", "generate with the base model"),
    CommandSpec("tuned", "/tuned", "generate with the fine-tuned model of the run"),
    CommandSpec("ab", "/ab paulg: The best", "the same prompt to base and tuned, side by side", _optional_prompt),
    CommandSpec("train", "/train", "open the training screen"),
    CommandSpec("eval", "/eval", "compute perplexity of base and tuned on valid and test"),
    CommandSpec(
        "sweep",
        "/sweep temp 0.5 0.9 1.3 n=20",
        "dist-n and self-BLEU against temp, k or p (n samples per value)",
        _sweep,
    ),
    CommandSpec(
        "score",
        "/score paulg: The best",
        "log-probability of each token under base and tuned, and what tuning changed most",
        _score,
    ),
    CommandSpec("source", "/source", "the training tweet the latest copied sample comes from (key s)"),
    CommandSpec(
        "assignment",
        "/assignment tweets.js max_steps=20 n=100",
        "the whole assignment: prepare, perplexity, train, compare, sweeps, report",
        _assignment,
    ),
    CommandSpec(
        "save", "/save chat.md", "export this chat as markdown (default: in the run directory)", _optional_text
    ),
    CommandSpec("clear", "/clear", "clear the chat (the saved session is archived, not deleted)"),
    CommandSpec("help", "/help", "list keys and commands"),
    CommandSpec("quit", "/quit", "leave the app", None, ("exit", "q")),
)

_BY_NAME = {alias: spec for spec in COMMAND_SPECS for alias in (spec.name, *spec.aliases)}


def parse_command(line: str) -> Command:
    """``/temp 0.8`` -> Command("temp", 0.8); raises CommandError with a one-line fix for bad input."""
    line = line.strip()
    if not line.startswith("/") or line == "/":
        raise CommandError("a command starts with / followed by its name; /help lists them")
    name, _, arg = line[1:].partition(" ")
    spec = _BY_NAME.get(name.lower())
    if spec is None:
        raise CommandError(f"unknown command /{name}; /help lists the commands")
    arg = arg.strip()
    if spec.parse is None:
        if arg:
            raise CommandError(f"/{spec.name} takes no argument")
        return Command(spec.name)
    return Command(spec.name, spec.parse(arg, spec))


def spec_for(name: str) -> CommandSpec:
    return _BY_NAME[name]


_AUTHOR = re.compile(r"^@?(\S*)$")


def parse_prompt(line: str) -> Prompt:
    """``paulg``, ``@paulg`` or ``paulg: some text`` -> Prompt; ``: text`` has no author.

    Usernames have no spaces, so ``two words`` without a colon is an error with the fix in it.
    """
    line = line.strip()
    if not line:
        raise CommandError("type a username (Tab completes), optionally with text after a colon: paulg: The best")
    head, colon, text = line.partition(":")
    head = head.strip()
    match = _AUTHOR.match(head)
    if match is None:
        if not colon:
            raise CommandError(f"usernames have no spaces; to continue a text write `user: {line}`")
        raise CommandError(f"{head!r} is not a username (no spaces); write `user: text`")
    author = match.group(1)
    if colon and not author and not text.strip():
        raise CommandError("nothing to generate from; type a username")
    return Prompt(author, text.strip())


def parse_input(line: str) -> Command | Prompt:
    """A submitted line: a command when it starts with ``/``, else a prompt."""
    return parse_command(line) if line.lstrip().startswith("/") else parse_prompt(line)


# Keys that change a sampling parameter at once: key -> (field, step).
PARAM_KEYS: dict[str, tuple[str, float]] = {
    "t": ("temperature", -0.1),
    "T": ("temperature", +0.1),
    "k": ("top_k", -5),
    "K": ("top_k", +5),
    "p": ("top_p", -0.05),
    "P": ("top_p", +0.05),
    "n": ("num_samples", -1),
    "N": ("num_samples", +1),
}

# Where a stepped value is clamped, so a key never produces a value the engine rejects.
STEP_BOUNDS: dict[str, tuple[float, float]] = {
    "temperature": (0.1, 5.0),
    "top_k": (0, 1000),
    "top_p": (0.05, 1.0),
    "num_samples": (1, 100),
}


def stepped(field: str, current: float, step: float) -> float | int:
    """``current + step`` clamped to the field's bounds and rounded (no 0.30000000000000004)."""
    low, high = STEP_BOUNDS[field]
    value = min(max(current + step, low), high)
    if field in ("top_k", "num_samples"):
        return int(round(value))
    return round(value, 2)
