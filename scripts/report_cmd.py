"""`tweetsmith report` (not built yet)."""

from __future__ import annotations

import argparse

HELP = "report (coming soon)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from .common import notice

    notice("tweetsmith report is not built yet")
    return 2
