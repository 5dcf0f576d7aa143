"""``tweetsmith voice RUN``: N samples per author from the base and the tuned model, their attribution and
authenticity (``engine.voice``), cached as RUN/voice.json with a confusion matrix PNG per model.

Fast to repeat and to resume: the samples come through ``sample_cache`` (each finished batch is stored,
so a killed run goes on at the batch it was in), the classifier is fitted once per split
(``voice_model``), and RUN/voice.json is returned without loading a model while its key (the splits'
bytes, the classifier grid, samples per author, the sampling settings) matches and final/ has not changed
since it was written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from pathlib import Path

from .decode_loop import DECODE_VERSION
from .errors import ConfigError
from .experiment_cache import cached_result
from .experiments import _now, _plan, _save, side_samples
from .generate import DEFAULT_BATCH_SIZE
from .plots import plot_confusion
from .progress import ProgressFn
from .results import NO_TUNED_NOTE
from .runs import RunPaths, final_mtime, write_json_atomic
from .sampling import SamplingConfig
from .sides import SIDES
from .voice import voice_judge
from .voice_model import GRID, classifier_key
from .voice_results import VoiceFigures, VoiceResult, shown_author

DEFAULT_PER_AUTHOR = 50


def cached_voice(run_dir: str | Path) -> VoiceResult | None:
    """RUN/voice.json while it describes the current final/ and decoding loop, else None (loads nothing)."""
    return cached_result(run_dir, RunPaths(Path(run_dir)).voice, VoiceResult)


def voice_key(data: Path, per_author: int, config: SamplingConfig) -> str:
    """What the figures depend on besides the models: the splits and classifier (``classifier_key``), the
    samples per author and the sampling settings."""
    payload = json.dumps([classifier_key(data, GRID, 0), per_author, config.to_dict()], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def run_voice(
    run_dir: str | Path,
    *,
    per_author: int = DEFAULT_PER_AUTHOR,
    config: SamplingConfig = SamplingConfig(),
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> VoiceResult:
    """``per_author`` samples for every author of the run's train split (prompt ``\\author- ``, seeds
    ``config.seed + i``), from the base model and, once final/ exists, the tuned one; measured and saved."""
    config = config.validated()
    if per_author < 2:
        raise ConfigError(f"--samples must be 2 or more per author (an interval needs two), got {per_author}")
    data, sides = _plan(run_dir, None, SIDES, {})
    key = voice_key(data, per_author, config)
    cached = cached_voice(run_dir)
    if cached is not None and cached.key == key and set(cached.sides) == set(sides):
        return cached
    judge = voice_judge(data, on_progress=on_progress)
    prompts = [author for author in judge.authors for _ in range(per_author)]
    paths = RunPaths(Path(run_dir))
    measured: dict[str, VoiceFigures] = {}
    plots: dict[str, str] = {}  # side -> its confusion plot
    for side in sides:
        samples = side_samples(
            run_dir, side, None, prompts, config, batch_size=batch_size, cancel=cancel, on_progress=on_progress
        )
        figures = judge.measure([s.author for s in samples], [s.text for s in samples], seed=config.seed)
        if figures.confusion is not None and judge.classifier is not None:  # a confusion needs the classifier
            names = [shown_author(a) for a in judge.classifier.authors]
            plots[side] = str(
                plot_confusion(
                    figures.confusion,
                    names,
                    paths.plots / f"voice-confusion-{side}.png",
                    f"{side}: {per_author} samples per author, rows sum to 1",
                )
            )
        measured[side] = dataclasses.replace(
            figures, file=_save(run_dir, samples, f"voice-{side}"), plot=plots.get(side)
        )
    notes = [n for n in (judge.note, "" if "tuned" in measured else NO_TUNED_NOTE) if n]
    result = VoiceResult(
        run=str(run_dir),
        data=str(data),
        per_author=per_author,
        config=config,
        authors=judge.authors,
        classifier=judge.classifier.fit if judge.classifier is not None else None,
        sides=measured,
        note="; ".join(notes),
        key=key,
        final_mtime=final_mtime(run_dir),
        created=_now(),
        decode_version=DECODE_VERSION,
        plots=plots,
    )
    write_json_atomic(paths.voice, result.to_json())
    return result
