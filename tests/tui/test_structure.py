"""How the app's parts talk, checked on the source: messages carry typed engine objects (no ``Any``), no
screen or widget reaches up into the App's module, and the App writes no widget of a screen."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path

from textual.message import Message

from tweetsmith.tui import messages

TUI = Path(messages.__file__).parent


def test_no_message_field_is_typed_any():
    found = {}
    for name, cls in vars(messages).items():
        if (
            inspect.isclass(cls)
            and issubclass(cls, Message)
            and dataclasses.is_dataclass(cls)
            and cls.__module__ == messages.__name__
        ):
            found[name] = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    assert len(found) > 30, sorted(found)
    untyped = {
        (name, field)
        for name, fields in found.items()
        for field, kind in fields.items()
        if re.search(r"\bAny\b", kind) or kind in ("dict", "list", "tuple", "object")
    }
    assert not untyped, untyped


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_screens_and_widgets_do_not_import_the_app():
    offenders = {
        str(p.relative_to(TUI)): sorted(i for i in _imports(p) if i in ("..app", "tweetsmith.tui.app"))
        for folder in ("screens", "widgets")
        for p in (TUI / folder).glob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_the_app_writes_no_widget_of_a_screen():
    source = (TUI / "app.py").read_text(encoding="utf-8")
    assert ".header." not in source and "query_one" not in source
