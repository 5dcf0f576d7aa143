"""``tweetsmith voice RUN``: is it really their voice? Attribution and authenticity, base vs tuned, per author."""

from __future__ import annotations

import argparse

HELP = (
    "is it their voice? N samples per author from base and tuned: the share a classifier attributes to the "
    "prompted author, and whether a classifier can tell them from real tweets (saved to RUN/voice.json)"
)
DEFAULT_SAMPLES = 50  # engine.voice_run.DEFAULT_PER_AUTHOR, without importing the engine for --help


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import add_sampling_arguments

    parser.add_argument("run_dir", metavar="RUN", help="a run directory (config.json, and final/ for the tuned model)")
    parser.add_argument(
        "--samples",
        type=int,
        default=DEFAULT_SAMPLES,
        help=f"samples per author and model (default: {DEFAULT_SAMPLES})",
    )
    add_sampling_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object (RUN/voice.json)")


def run(args: argparse.Namespace) -> int:
    from tweetsmith.engine.run_record import run_data_dir
    from tweetsmith.engine.sampling import SamplingConfig
    from tweetsmith.engine.voice_run import run_voice

    from .common import config_from_args, print_result
    from .sweep_cmd import progress_printer

    config = config_from_args(SamplingConfig, args).validated()
    run_data_dir(args.run_dir)  # a bad RUN fails in one line before anything loads
    progress, close = progress_printer()
    try:
        result = run_voice(
            args.run_dir, per_author=args.samples, config=config, batch_size=args.batch_size, on_progress=progress
        )
    finally:
        close()
    return print_result(result, args.json, voice_table)


def _share(estimate) -> str:
    return estimate.shown() if estimate is not None else "–"


def voice_table(result) -> str:
    """Per author: the classifier on their real test tweets, then attribution and authenticity of each
    model's samples; a confusion matrix per model; what the figures mean."""
    from tweetsmith.engine.voice_results import shown_author

    sides = list(result.sides)
    fit = result.classifier
    width = 20
    lines = []
    if fit is not None:
        lines += [
            "Attribution: share of samples attributed to the prompted author [95% interval]",
            f"{'author':<16}{'real tweets':>12}" + "".join(f"{s:>{width}}" for s in sides),
        ]
        for author in result.authors:
            real = fit.test_recall.get(author)
            cells = [
                _share(result.sides[s].per_author[author].attribution) if author in result.sides[s].per_author else "–"
                for s in sides
            ]
            lines.append(
                f"{shown_author(author)[:15]:<16}{'–' if real is None else f'{real:.2f}':>12}"
                + "".join(f"{c:>{width}}" for c in cells)
            )
        lines.append(
            f"{'all':<16}{fit.test_accuracy.value:>12.2f}"
            + "".join(f"{_share(result.sides[s].attribution):>{width}}" for s in sides)
        )
        lines.append(
            f"(real tweets: the classifier on the test split, {fit.test_accuracy.value:.2f} of them attributed "
            f"to their author, {fit.test_balanced:.2f} averaged over authors: the ceiling for "
            f"{result.per_author} samples per author; chance {fit.chance:.3f})"
        )
        lines.append(
            f"(classifier: {fit.settings}, best valid accuracy {fit.valid_accuracy:.3f} of "
            f"{len(fit.tried)} settings; scikit-learn {fit.sklearn})"
        )
        lines.append("")
    lines += [
        "Authenticity: accuracy of a classifier telling samples from the author's real test tweets "
        "(0.5: it cannot) [95% interval]",
        f"{'author':<16}" + "".join(f"{s:>{width}}" for s in sides),
    ]
    for author in result.authors:
        cells = [
            _share(result.sides[s].per_author[author].authenticity) if author in result.sides[s].per_author else "–"
            for s in sides
        ]
        lines.append(f"{shown_author(author)[:15]:<16}" + "".join(f"{c:>{width}}" for c in cells))
    lines.append(f"{'all':<16}" + "".join(f"{_share(result.sides[s].authenticity):>{width}}" for s in sides))
    for side in sides:
        figures = result.sides[side]
        if figures.confusion is not None and fit is not None:
            lines += [
                "",
                f"Confusion ({side}): rows prompted as, columns attributed to",
                confusion_table(figures.confusion, fit.authors),
            ]
    c = result.config
    lines += [
        "",
        f"({result.per_author} samples per author and model, t={c.temperature:g} k={c.top_k} p={c.top_p:g}, "
        f"seed {c.seed}; same authors and seeds for both)",
    ]
    for side, figures in result.sides.items():
        lines.append(
            f"{side} samples: {figures.file}" + (f"; confusion matrix: {figures.plot}" if figures.plot else "")
        )
    return "\n".join(lines)


def confusion_table(confusion, authors) -> str:
    """The confusion matrix as text: a row per prompted author, a column per attributed one (names cut to 6)."""
    names = [a[:6] for a in authors]
    lines = [f"{'':<10}" + "".join(f"{n:>7}" for n in names)]
    for author, row in zip(authors, confusion):
        if sum(row):
            lines.append(f"{author[:9]:<10}" + "".join(f"{x:>7}" if x else f"{'.':>7}" for x in row))
    return "\n".join(lines)
