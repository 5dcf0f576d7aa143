"""`tweetsmith tui`: the app (also what `tweetsmith` with no command opens)."""

from __future__ import annotations

import argparse

HELP = "open the app: stream tweets for a username, tweak sampling, train and compare (default command)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="model spec: hub id, model directory, .gguf file or smollm2-135m "
                        "(default: the last run in ./runs, else gpt2-medium, falling back to the embedded model offline)")
    # dest run_dir: cli.py keeps each command's entry point in args.run
    parser.add_argument("--run", dest="run_dir", metavar="RUN", default=None, help="run directory to open (its base and tuned models, its data and session)")
    parser.add_argument("--data", default=None, help="data directory with train/valid/test.txt "
                        "(default: the run's data, else the built-in corpus, prepared on first use)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tweetsmith.tui.app import run_app

    return run_app(model_spec=args.model, run_dir=Path(args.run_dir) if args.run_dir else None,
                   data_dir=Path(args.data) if args.data else None)
