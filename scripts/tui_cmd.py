"""`tweetsmith tui`: the app (also what `tweetsmith` with no command opens)."""

from __future__ import annotations

import argparse

HELP = "open the app: stream tweets for a username, tweak sampling, train and compare (default command)"


def add_arguments(parser: argparse._ActionsContainer) -> None:
    # _ActionsContainer: a parser or, from `tweetsmith serve`, one of its argument groups (argparse's common base)
    from .common import add_precision_argument

    add_precision_argument(parser)
    parser.add_argument(
        "--model",
        default=None,
        help="model spec: hub id, model directory, .gguf file or smollm2-135m "
        "(default: the last run in ./runs, else gpt2-medium, falling back to the embedded model offline)",
    )
    # dest run_dir: cli.py keeps each command's entry point in args.run
    parser.add_argument(
        "--run",
        dest="run_dir",
        metavar="RUN",
        default=None,
        help="run directory to open (its base and tuned models, its data and session)",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="data directory with train/valid/test.txt "
        "(default: the run's data, else the built-in corpus, prepared on first use)",
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        default=None,
        help="work in DIR and refuse every path typed in the app (/save, /run, /model, /assignment, the "
        "training form) that leads outside it (default: no limit; `tweetsmith serve` always sets one)",
    )


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from tweetsmith.tui.app import run_app
    from tweetsmith.tui.root import Root

    model, run_dir, data = (
        args.model,
        Path(args.run_dir) if args.run_dir else None,
        Path(args.data) if args.data else None,
    )
    root = None
    if args.root is not None:
        root = Root.at(args.root).directory  # PathRefused (a TweetsmithError): one line, exit 2
        # The flags are the operator's, taken from where they typed them; then the app works in its root,
        # so the runs/ it makes and the relative paths typed in it are there.
        run_dir, data = (p.expanduser().resolve() if p else None for p in (run_dir, data))
        if model and Path(model).expanduser().exists():
            model = str(Path(model).expanduser().resolve())
        assert root is not None  # Root.at always names its directory
        os.chdir(root)
    return run_app(model_spec=model, run_dir=run_dir, data_dir=data, root=root, precision=args.precision)
