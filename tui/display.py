"""Small text helpers shared by the screens."""

from __future__ import annotations

from pathlib import Path


def short_path(path: str | Path) -> str:
    """``path`` relative to the working directory when it is inside it (``runs/vc``), else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
