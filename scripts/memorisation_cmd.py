"""``tweetsmith memorisation SAMPLES --train DIR``: is the model copying its training tweets?

For each sample, the longest span of words it shares with any training record; prints the share of
copied samples (a shared span of 8+ words, or the whole of a shorter sample), the distribution of
longest spans and the worst cases beside the training records they came from.
"""

from __future__ import annotations

import argparse

HELP = "share of samples copied from the training split, the distribution of longest shared word spans, the worst cases"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import add_samples_argument

    add_samples_argument(parser)
    parser.add_argument(
        "--train", required=True, metavar="DIR", help="the data directory (train.txt) or a run directory trained on it"
    )
    parser.add_argument("--worst", type=int, default=5, help="how many worst cases to show (default: 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def train_dir(path: str):
    """A data directory with train.txt, or the data directory of a run."""
    from pathlib import Path

    from tweetsmith.data.split import SplitDir
    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.run_record import run_data_dir
    from tweetsmith.engine.runs import is_run_dir

    folder = Path(path)
    if SplitDir(folder).train.is_file():
        return folder
    if is_run_dir(folder):
        return run_data_dir(folder)
    raise ConfigError(
        f"{path}: no train.txt here; give the data directory from `tweetsmith prepare` (or a run directory)"
    )


def run(args: argparse.Namespace) -> int:
    import json

    from tweetsmith.data.split import SplitDir
    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.memorisation import index_for_data, summarize

    from .common import ProgressLine, notice, read_samples_argument

    if args.worst < 0:
        raise ConfigError(f"--worst must be 0 or more, got {args.worst}")
    items = read_samples_argument(args.samples)
    data = train_dir(args.train)
    bar = ProgressLine("indexing train.txt (once; cached)")

    def progress(event) -> None:  # engine.progress.Progress: "indexing train.txt (tokenizing)", ...
        bar.label, bar.total = f"{event.stage}, once; cached", event.total
        bar.update(event.done)

    index = index_for_data(data, on_progress=progress)
    bar.close()
    notice(f"index of {index.records:,} training records ({index.source})")
    matches = index.match_many(i.text for i in items)
    summary = summarize(matches, worst=args.worst)
    if args.json:
        out = {**summary.to_json(), "file": args.samples, "train": str(SplitDir(data).train)}
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    print(render(summary, [i.author for i in items]))
    return 0


def render(summary, authors: list[str]) -> str:
    """A ``MemorisationSummary`` as text: the copied share, a histogram of longest spans, the worst cases."""
    share = summary.copied_share
    lines = [
        f"copied: {summary.copied} of {summary.samples} samples ({100 * share:.1f}%) share a span of "
        f"{summary.copy_span_words}+ words (or all of a shorter sample) with a training record"
    ]
    lines.append(
        f"longest shared span: mean {summary.span_mean:.1f} words, median {summary.span_median:.0f}, max {summary.span_max}"
    )
    histogram = summary.histogram
    top = max(histogram.values())
    lines.append("words  samples")
    for length in range(0, max(histogram) + 1):
        count = histogram.get(length, 0)
        if count or length <= summary.copy_span_words:
            bar = "#" * round(40 * count / top)
            marker = "  <- copied from here" if length == summary.copy_span_words else ""
            lines.append(f"{length:>5}  {count:>7}  {bar}{marker}")
    if summary.worst:
        lines.append("")
        lines.append("worst cases:")
    for sample, match in summary.worst:
        author = authors[sample] if sample < len(authors) else ""
        flag = "COPIED" if match.copied else "      "
        lines.append(
            f'{flag} {match.words:>3} words  sample {sample}{f" (@{author})" if author else ""}: "{match.span}"'
        )
        if match.record_text is not None:
            lines.append(f"{'':>17}training record {match.record}: {match.record_text}")
    return "\n".join(lines)
