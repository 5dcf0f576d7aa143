"""Reading a record file (a run's config.json, its card.json) into a frozen dataclass, strictly.

A key the type does not have, or a field without a default the file lacks, is a ``ModelError`` of one line
naming the file and the key: a record written by a newer (or older, or another) program is said at once,
never met later as a ``KeyError`` or as a ``None`` that a ``.get`` made up. Fields with defaults are the keys
added after the first version; their default is what the program did before them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ModelError


def read_json_object(path: Path, fix: str) -> dict[str, Any]:
    """The JSON object in ``path``; broken JSON or another JSON value is a ModelError ending with ``fix``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"{path}: broken JSON ({err}); {fix}") from None
    if not isinstance(raw, dict):
        raise ModelError(f"{path}: not a record (a JSON object); {fix}")
    return raw


def checked_fields(cls: type, raw: Any, source: str | Path, fix: str) -> dict[str, Any]:
    """``raw``'s items, checked to be ``cls``'s fields: every key one of them, every field without a default
    present. ``source`` names the file (and the part of it) in the error; ``fix`` says what to do."""
    if not isinstance(raw, Mapping):
        raise ModelError(f"{source}: not a JSON object; {fix}")
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    unknown = [k for k in raw if k not in names]
    if unknown:
        raise ModelError(f"{source}: unknown {_listed(unknown)} (written by a newer tweetsmith?); {fix}")
    required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in raw]
    if missing:
        raise ModelError(f"{source}: no {_listed(missing)} (not written by tweetsmith?); {fix}")
    return dict(raw)


def _listed(keys: list[str]) -> str:
    """``key 'a'`` or ``keys 'a', 'b', 'c', ...``."""
    names = ", ".join(repr(k) for k in keys[:3]) + (", ..." if len(keys) > 3 else "")
    return f"keys {names}" if len(keys) > 1 else f"key {names}"
