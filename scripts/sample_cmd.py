"""`tweetsmith sample` (not built yet)."""

from __future__ import annotations

import argparse

HELP = "sample (coming soon)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from .common import notice

    notice("tweetsmith sample is not built yet")
    return 2
