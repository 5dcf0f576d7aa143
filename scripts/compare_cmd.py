"""``tweetsmith compare RUN``: samples from the base and the tuned model, overlap with the test set and diversity side by side."""

from __future__ import annotations

import argparse

HELP = "base vs tuned: N samples each, word overlap with the test set and diversity side by side (saved to RUN/compare.json)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import add_precision_argument, add_sampling_arguments

    parser.add_argument("run_dir", metavar="RUN", help="a run directory (config.json, final/)")
    parser.add_argument(
        "-n", "--num-samples", type=int, default=100, dest="num_samples", help="samples per model (default: 100)"
    )
    add_sampling_arguments(parser)
    add_precision_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.experiments import compare_samples
    from tweetsmith.engine.sampling import SamplingConfig

    from .common import config_from_args, print_result
    from .sweep_cmd import notice_once, progress_printer

    config = config_from_args(SamplingConfig, args).validated()
    if args.num_samples < 2:
        raise ConfigError(f"-n must be 2 or more (self-BLEU needs two samples), got {args.num_samples}")
    progress, close = progress_printer()
    result = compare_samples(
        args.run_dir,
        n=args.num_samples,
        config=config,
        batch_size=args.batch_size,
        on_progress=progress,
        precision=args.precision,
        on_notice=notice_once(close),
    )
    close()
    return print_result(result, args.json, side_by_side)


ROWS = [
    ("overlap (word tokens in test vocab)", "overlap", "{:.3f}"),
    ("overlap (word types)", "overlap_types", "{:.3f}"),
    ("overlap (word-bigram types)", "overlap_bigrams", "{:.3f}"),
    ("dist-1", "dist_1", "{:.3f}"),
    ("dist-2", "dist_2", "{:.3f}"),
    ("dist-3", "dist_3", "{:.3f}"),
    ("self-BLEU", "self_bleu", "{:.3f}"),
    ("mean words", "mean_words", "{:.1f}"),
    ("voice: attributed to prompted author", "attribution", "{:.3f}"),
    ("voice: told from real (0.5: can't)", "authenticity", "{:.3f}"),
]


def cell(value, interval, fmt: str) -> str:
    """``0.612 [0.600-0.630]``: a figure and its 95% bootstrap interval."""
    if value is None:
        return "n/a"
    text = fmt.format(value)
    if interval:
        text += f" [{fmt.format(interval[0])}-{fmt.format(interval[1])}]"
    return text


def band_cell(band, key: str, fmt: str) -> str:
    """The human band of a figure (``bootstrap.HumanBand``), ``low-high``."""
    bounds = band.bounds.get(key) if band is not None else None
    return f"{fmt.format(bounds[0])}-{fmt.format(bounds[1])}" if bounds else "–"


def side_by_side(result) -> str:
    """Overlap and diversity of base and tuned samples (a ``SampleComparison``) with 95% intervals, the
    human band, the copied share, the voice."""
    from tweetsmith.engine.bootstrap import verdict

    from .common import voice_note

    sides = result.sides
    band = result.human
    bleu_n = next(iter(sides.values())).diversity.self_bleu_n if sides else 4
    width = 22
    head = f"{'':<36}" + "".join(f"{s:>{width}}" for s in sides) + (f"{'human band':>14}" if band else "")
    lines = [head, f"{'samples':<36}" + "".join(f"{f.diversity.samples:>{width}}" for f in sides.values())]
    for label, key, fmt in ROWS:
        label = f"self-BLEU-{bleu_n}" if key == "self_bleu" else label
        cells = [cell(f.figure(key), f.interval(key), fmt) for f in sides.values()]
        line = f"{label:<36}" + "".join(f"{c:>{width}}" for c in cells)
        lines.append(line + (f"{band_cell(band, key, fmt):>14}" if band else ""))
    if all(f.copied is not None for f in sides.values()):
        cells = [f"{100 * f.copied:.1f}% ({f.copied_count})" for f in sides.values()]
        lines.append(f"{'copied from train (8+ word span)':<36}" + "".join(f"{c:>{width}}" for c in cells))
    config = result.config
    lines.append(
        f"(t={config.temperature:g} k={config.top_k} p={config.top_p:g}, seed {config.seed}; "
        f"same authors and seeds for both; reference {result.reference}; [95% bootstrap interval, "
        f"{result.resamples} resamples])"
    )
    if band:
        lines.append(
            f"(human band: the same figures on {band.repeats} random sets of {band.n} test tweets, "
            f"overlap against the rest of the test split)"
        )
        for s, f in sides.items():
            verdicts = [
                f"{'self-BLEU' if key == 'self_bleu' else key.replace('_', ' ')} "
                f"{verdict(f.figure(key), tuple(band.bounds[key]))}"
                for _, key, _ in ROWS
                if key in band.bounds and f.figure(key) is not None
            ]
            lines.append(f"{s} vs human: " + ", ".join(verdicts))
    lines.append(voice_note(result.voice_classifier))
    for s, f in sides.items():
        lines.append(f"{s} samples: {f.file}")
    return "\n".join(lines)
