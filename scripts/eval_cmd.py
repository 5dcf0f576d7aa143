"""`tweetsmith eval` (not built yet)."""

from __future__ import annotations

import argparse

HELP = "eval (coming soon)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from .common import notice

    notice("tweetsmith eval is not built yet")
    return 2
