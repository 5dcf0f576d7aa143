"""``tweetsmith report RUN``: write RUN/report.md answering the assignment's questions with the run's numbers."""

from __future__ import annotations

import argparse

HELP = "write RUN/report.md: dataset, perplexity before/after, overlap, sweep plots, samples per author, training flags"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="a run directory (config.json, final/)")
    parser.add_argument(
        "--no-compute", action="store_true", help="use only cached results (eval.json, compare.json, sweep-*.json)"
    )
    parser.add_argument(
        "-n",
        "--num-samples",
        type=int,
        default=100,
        dest="num_samples",
        help="samples per model and sweep point when computing (default: 100)",
    )
    parser.add_argument(
        "--sweeps", default="temperature,top_k,top_p", help="parameters to sweep (default: temperature,top_k,top_p)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object: the report's path and its run")


def run(args: argparse.Namespace) -> int:
    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.experiments import DEFAULT_SWEEP_VALUES
    from tweetsmith.engine.report import build_report

    from .common import notice
    from .sweep_cmd import progress_printer

    sweeps = [p.strip() for p in args.sweeps.split(",") if p.strip()]
    unknown = [p for p in sweeps if p not in DEFAULT_SWEEP_VALUES]
    if unknown:
        raise ConfigError(f"--sweeps: can't sweep {unknown[0]!r} here; choose from {', '.join(DEFAULT_SWEEP_VALUES)}")
    if args.num_samples < 2:
        raise ConfigError(f"-n must be 2 or more, got {args.num_samples}")
    progress, close = progress_printer()
    path = build_report(
        args.run_dir, compute=not args.no_compute, n=args.num_samples, sweeps=sweeps, on_progress=progress
    )
    close()
    notice(f"wrote {path}")
    if args.json:
        import json

        print(json.dumps({"report": str(path), "run": str(args.run_dir)}, indent=2))
    else:
        print(path)
    return 0
