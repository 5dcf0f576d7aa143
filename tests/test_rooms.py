"""The rooms keep their doors: engine never imports textual, data never imports torch, --help is instant."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_data_imports_no_torch_or_textual():
    mods = _modules_after(
        "import pkgutil, importlib, tweetsmith.data as d\n"
        "[importlib.import_module('tweetsmith.data.' + m.name) for m in pkgutil.iter_modules(d.__path__)]"
    )
    assert "torch" not in mods and "textual" not in mods and "transformers" not in mods


def test_engine_imports_no_textual():
    mods = _modules_after(
        "import pkgutil, importlib, tweetsmith.engine as e\n"
        "[importlib.import_module('tweetsmith.engine.' + m.name) for m in pkgutil.iter_modules(e.__path__)]"
    )
    assert "textual" not in mods


@pytest.mark.parametrize("room", ["engine", "data"])
def test_no_room_imports_tui_or_scripts(room):
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1] / room
    pattern = re.compile(r"^\s*(from|import)\s+(tweetsmith\.)?(tui|scripts)\b", re.M)
    offenders = [p.name for p in root.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_help_lists_commands_without_heavy_imports():
    mods = _modules_after("from tweetsmith.scripts.cli import build_parser; build_parser()")
    assert "torch" not in mods and "transformers" not in mods and "textual" not in mods
    out = subprocess.run(
        [sys.executable, "-m", "tweetsmith.scripts.cli", "--help"], capture_output=True, text=True
    ).stdout
    for command in ("prepare", "train", "eval", "sample", "metrics", "compare", "sweep", "report", "models", "tui"):
        assert command in out
