"""Prepared copies of data in the user cache: the built-in corpus, and a training's data *file*.

Each copy is named by what it is made from (the source's bytes or the corpus package's version, and the
prepare settings), never by a name alone: ``~/a/tweets.txt`` and ``~/b/tweets.txt``, or the same file
edited, are different data and get different copies. A copy is made once, then reused.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tweetsmith.data.prepare import PrepareConfig, prepare
from tweetsmith.data.stats import is_prepare_output

from .paths import home
from .stage_record import content_key

if TYPE_CHECKING:
    from tweetsmith.data.prepare import PrepareProgress

    from .train_config import TrainConfig

BUILTIN_CORPUS = "sotu"


def builtin_data_dir(progress: Callable[[str], None] = lambda _m: None) -> Path:
    """The built-in corpus's splits in the user cache, prepared on first use."""
    from importlib.metadata import version

    config = PrepareConfig(builtin=BUILTIN_CORPUS, out="")
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "out"}
    out = home() / "data" / f"{BUILTIN_CORPUS}-{content_key([settings, version(BUILTIN_CORPUS)])[:16]}"
    if is_prepare_output(out):
        return out
    progress(f"preparing the built-in corpus ({BUILTIN_CORPUS}) in {out} (once)")

    def report(event: PrepareProgress) -> None:
        share = f" {100 * event.done / event.total:.0f}%" if event.total else ""
        progress(f"preparing {BUILTIN_CORPUS}: {event.stage}{share}")

    prepare(dataclasses.replace(config, out=str(out)), on_progress=report)
    return out


def prepared_config(config: TrainConfig, cancel: threading.Event, progress: Callable[[str], None]) -> TrainConfig:
    """``config`` training on a data *file* prepared (cleaned and split) into the user cache first (once);
    a directory is used as is."""
    source = Path(config.data).expanduser()
    if not source.is_file():
        return config
    settings = PrepareConfig(inputs=(str(source),), out="")
    out = prepared_dir(source, settings)
    if not is_prepare_output(out):
        progress(f"preparing {source.name} into {out}")
        prepare(dataclasses.replace(settings, out=str(out)), cancel=cancel, on_notice=progress)
    return dataclasses.replace(config, data=str(out))


def prepared_dir(source: Path, settings: PrepareConfig) -> Path:
    """Where the prepared copy of ``source`` lives: named by the file's bytes and the prepare settings."""
    fields = {k: v for k, v in dataclasses.asdict(settings).items() if k not in ("inputs", "out", "force")}
    return home() / "data" / f"{source.stem}-{content_key(fields, [source])[:16]}"
