"""Config fields that carry their help text, shared by every typed config (data's and engine's).

``option(default, "help")`` makes a dataclass field whose metadata the CLI turns into a flag
(scripts.common.add_config_arguments) and the app into a form field. It lives in ``data`` because
both rooms may import ``data`` and ``data`` imports nothing of ours.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def option(default: Any, help: str, *, flag: str | None = None, choices: tuple | None = None) -> Any:
    """A dataclass field carrying its help text (and an optional CLI flag name and choices)."""
    return dataclasses.field(default=default, metadata={"help": help, "flag": flag, "choices": choices})


def field_help(cls: type, name: str) -> str:
    return next(f.metadata.get("help", "") for f in dataclasses.fields(cls) if f.name == name)
