"""Where tweetsmith keeps things: the user cache (converted models) and run directories."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The cache root: ``$TWEETSMITH_HOME`` or the platform's user cache dir for tweetsmith."""
    env = os.environ.get("TWEETSMITH_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("tweetsmith"))


def cache_dir(kind: str) -> Path:
    """Where results remembered by key live: ``$TWEETSMITH_CACHE/<kind>``, else ``home()/cache/<kind>``.

    The tests point ``$TWEETSMITH_CACHE`` at a temporary directory, so no figure or sample stored by one
    test answers the next."""
    env = os.environ.get("TWEETSMITH_CACHE")
    return (Path(env).expanduser() if env else home() / "cache") / kind


def models_dir() -> Path:
    return home() / "models"


def short_path(path: str | Path) -> str:
    """``path`` relative to the working directory when it is inside it (``runs/vc``), else as given: how
    notes and labels name a file, in the app and in results' notes alike."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def runs_root() -> Path:
    """Default parent of run directories: ``./runs`` (``$TWEETSMITH_RUNS`` overrides)."""
    return Path(os.environ.get("TWEETSMITH_RUNS", "runs"))
