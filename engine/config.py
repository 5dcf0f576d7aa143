"""Typed configs with a help string per field, so the CLI's flags and the app's forms come from one place.

Use ``option(default, "help")`` for each field of a frozen dataclass; ``scripts`` builds argparse flags
from the metadata and the TUI builds its forms from it.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def option(default: Any, help: str, *, flag: str | None = None, choices: tuple | None = None) -> Any:
    """A dataclass field carrying its help text (and an optional CLI flag name and choices)."""
    return dataclasses.field(default=default, metadata={"help": help, "flag": flag, "choices": choices})


def field_help(cls: type, name: str) -> str:
    return next(f.metadata.get("help", "") for f in dataclasses.fields(cls) if f.name == name)
