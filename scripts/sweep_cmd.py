"""``tweetsmith sweep RUN --param temperature --values 0.5,0.7,1.0``: diversity and overlap against a sampling parameter."""

from __future__ import annotations

import argparse

HELP = "vary temperature, top_k or top_p: dist-1/2, self-BLEU, overlap and length per value, base vs tuned, with PNG and terminal plots"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import add_precision_argument, add_sampling_arguments

    parser.add_argument("run_dir", metavar="RUN", help="a run directory (config.json, final/)")
    parser.add_argument(
        "--param",
        default="temperature",
        help="temperature, top_k, top_p, typical_p, min_p or repetition_penalty (default: temperature)",
    )
    parser.add_argument(
        "--values", default=None, help="comma-separated values (default grid for temperature, top_k, top_p)"
    )
    parser.add_argument(
        "-n",
        "--num-samples",
        type=int,
        default=100,
        dest="num_samples",
        help="samples per value and model (default: 100)",
    )
    parser.add_argument("--base-only", action="store_true", help="only the base model's curve")
    add_sampling_arguments(parser)
    add_precision_argument(parser)
    parser.add_argument("--no-plot", action="store_true", help="skip the terminal plot")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def progress_printer():
    """An on_progress for the engine's ``Progress`` events: one progress line per stage on stderr."""
    from .common import StageLine

    lines = StageLine()

    def progress(event) -> None:
        lines.show(event.stage, event.stage, event.done, event.total, force=event.done == event.total)

    return progress, lines.close


def notice_once(close):
    """An on_notice for the engine: each distinct line once on stderr, on a line of its own (``close`` ends
    the progress line first; base and tuned models give the same precision line)."""
    from .common import notice

    said: set[str] = set()

    def say(text: str) -> None:
        if text not in said:
            said.add(text)
            close()
            notice(text)

    return say


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.experiments import parse_sweep_values, sweep
    from tweetsmith.engine.plots import plot_sweep, terminal_sweep_plot
    from tweetsmith.engine.runs import RunPaths
    from tweetsmith.engine.sampling import SamplingConfig

    from .common import config_from_args, notice

    config = config_from_args(SamplingConfig, args).validated()
    values = parse_sweep_values(args.param, args.values)  # bad values fail before any model loads
    if args.num_samples < 2:
        raise ConfigError(f"-n must be 2 or more (self-BLEU needs two samples), got {args.num_samples}")
    progress, close = progress_printer()
    result = sweep(
        args.run_dir,
        args.param,
        values,
        n=args.num_samples,
        config=config,
        batch_size=args.batch_size,
        sides=("base",) if args.base_only else ("base", "tuned"),
        on_progress=progress,
        precision=args.precision,
        on_notice=notice_once(close),
    )
    close()
    if result.note:
        notice(result.note)
    png = plot_sweep(result, RunPaths(Path(args.run_dir)).plots / f"sweep-{args.param}.png")
    if args.json:
        print(json.dumps({**result.to_json(), "plot": str(png)}, indent=2, ensure_ascii=False))
        return 0
    print(sweep_table(result))
    if not args.no_plot:
        print(
            terminal_sweep_plot(result, metrics=("dist_1", "self_bleu", "copied"), width=120, color=sys.stdout.isatty())
        )
        if any(
            p.figures.authenticity is not None or p.figures.attribution is not None
            for points in result.curves.values()
            for p in points
        ):  # the voice beside self-BLEU
            print(
                terminal_sweep_plot(
                    result, metrics=("self_bleu", "attribution", "authenticity"), width=120, color=sys.stdout.isatty()
                )
            )
    notice(
        f"plot: {png}; samples in {RunPaths(Path(args.run_dir)).samples}; numbers in {RunPaths(Path(args.run_dir)).sweep(args.param)}"
    )
    return 0


TABLE_METRICS = (
    ("dist-1", "dist_1"),
    ("dist-2", "dist_2"),
    ("sBLEU", "self_bleu"),
    ("overlap", "overlap"),
    ("attribution", "attribution"),
    ("tell-apart", "authenticity"),
)


def sweep_table(result) -> str:
    """One row per value and model of a ``SweepResult``: each figure with its 95% bootstrap interval, words,
    copied share; then the human band of each figure."""
    from .common import voice_note

    n = result.n
    width = 20
    names = [f"sBLEU-{result.bleu_n}" if key == "self_bleu" else name for name, key in TABLE_METRICS]
    lines = [
        f"{result.param:>12} {'model':>6}"
        + "".join(f"{name:>{width}}" for name in names)
        + f" {'words':>6} {'copied':>7}"
    ]
    for side, points in result.curves.items():
        for point in points:
            p = point.figures
            value = "off" if result.param == "top_k" and point.value == 0 else f"{point.value:g}"
            cells = []
            for _, key in TABLE_METRICS:
                figure, interval = p.figure(key), p.interval(key)
                text = (
                    "n/a"
                    if figure is None
                    else f"{figure:.3f}" + (f" [{interval[0]:.2f}-{interval[1]:.2f}]" if interval else "")
                )
                cells.append(f"{text:>{width}}")
            copied = p.copied
            lines.append(
                f"{value:>12} {side:>6}" + "".join(cells) + f" {p.figure('mean_words'):>6.1f} "
                f"{'n/a' if copied is None else f'{100 * copied:.0f}%':>7}"
            )
    lines.append(voice_note(result.voice_classifier))
    band = result.human
    if band:
        cells = []
        for _, key in TABLE_METRICS:
            bounds = band.bounds.get(key)
            cells.append(f"{f'{bounds[0]:.3f}-{bounds[1]:.3f}' if bounds else '–':>{width}}")
        words = band.bounds.get("mean_words")
        lines.append(
            f"{'human':>12} {'band':>6}" + "".join(cells) + f" {f'{words[0]:.0f}-{words[1]:.0f}' if words else '–':>6}"
        )
        lines.append(f"(human band: {band.repeats} random sets of {band.n} test tweets)")
    lines.append(
        f"({n} samples per row; self-BLEU grows with the sample count; [95% bootstrap interval]; "
        f"copied: a span of 8+ words from a training tweet)"
    )
    return "\n".join(lines)
