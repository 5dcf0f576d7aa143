"""What the app opens on: an explicit run or model, else the last run in ./runs, else the default model.

Plain functions (no Textual), called from the app's loading worker. Data: the ``--data`` directory,
else the run's data, else the built-in corpus, prepared into the user cache on first use.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

BUILTIN_CORPUS = "sotu"


@dataclass(frozen=True)
class StartPlan:
    """What to load: a run (its tuned model when it has one) or a model spec, and the data directory."""

    run_dir: Path | None
    model_spec: str | None
    data_dir: Path | None  # None: prepare the built-in corpus
    side: str  # the side the chat starts on: "tuned" for a run with a final model, else "base"


def last_run(root: Path) -> Path | None:
    """The most recently modified run directory (one with a config.json) under ``root``."""
    if not root.is_dir():
        return None
    runs = [p for p in root.iterdir() if (p / "config.json").is_file()]
    return max(runs, key=lambda p: (p / "config.json").stat().st_mtime, default=None)


def run_data_dir(run_dir: Path) -> Path | None:
    from tweetsmith.engine.runs import read_run_config

    config = read_run_config(run_dir)
    data = config.get("data") or config.get("data_dir")
    return Path(data) if data else None


def plan_start(model_spec: str | None, run_dir: Path | None, data_dir: Path | None, runs_root: Path) -> StartPlan:
    """Decide what to open; an explicit ``--model`` wins over the last run."""
    if run_dir is None and model_spec is None:
        run_dir = last_run(runs_root)
    if run_dir is not None:
        data = data_dir or run_data_dir(run_dir)
        side = "tuned" if (Path(run_dir) / "final").is_dir() else "base"
        return StartPlan(Path(run_dir), None, data, side)
    return StartPlan(None, model_spec, data_dir, "base")


def builtin_data_dir(progress: Callable[[str], None] = lambda _m: None) -> Path:
    """The built-in corpus's splits in the user cache, prepared on first use."""
    from tweetsmith.engine.paths import home

    out = home() / "data" / BUILTIN_CORPUS
    if all((out / f"{split}.txt").is_file() for split in ("train", "valid", "test")):
        return out
    from tweetsmith.data.prepare import PrepareConfig, prepare

    progress(f"preparing the built-in corpus ({BUILTIN_CORPUS}) in {out} (once)")
    config = PrepareConfig(builtin=BUILTIN_CORPUS, out=str(out))
    def report(event) -> None:  # data.prepare.PrepareProgress
        total = getattr(event, "total", 0) or 0
        share = f" {100 * event.done / total:.0f}%" if total else ""
        progress(f"preparing {BUILTIN_CORPUS}: {getattr(event, 'stage', '')}{share}")

    prepare(config, on_progress=report)
    return out


def authors_of(data_dir: Path, limit: int = 5000) -> list[str]:
    """The authors of the training split, most frequent first (the input completes from these)."""
    from tweetsmith.data.records import read_split

    train = Path(data_dir) / "train.txt"
    if not train.is_file():
        return []
    counts = Counter(r.author for r in read_split(train) if r.author)
    return [author for author, _ in counts.most_common(limit)]
