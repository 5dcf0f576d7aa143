"""Typed configs: fields that carry their help (``option``, from ``tweetsmith.data.options``), and the one
reader that turns the strings a person typed into such a config.

``config_from_strings(TrainConfig, {"lr": "1e-4", "lora": "yes"})`` converts each text by its field's type
and then runs the config's own checks (its ``validated()``), in the manner of run_clm's HfArgumentParser
with checks in ``__post_init__``: the training form and ``/assignment key=value`` read a config through it,
and the CLI reads each flag's text with ``value_from_string`` (``scripts.common.add_config_arguments``), so
the same bad value gets the same one-line ``ConfigError`` wherever it is typed.

Conversion, by the field's annotation: ``int`` a whole number; ``float`` a finite number; ``bool`` one of
true/yes/on/1 or false/no/off/0 (any case); ``str`` as typed; a ``Literal[...]`` or an ``option(...,
choices=...)`` one of its choices; an optional field (``X | None``) is None for an empty text or "none".
Leading and trailing spaces are ignored; an empty text for a field that is not optional is refused.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from tweetsmith.data.options import field_help, option

from .errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["config_from_strings", "field_help", "option", "value_from_string"]

C = TypeVar("C", bound="DataclassInstance")  # a config is a dataclass: dataclasses.replace makes the copy
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def value_from_string(cls: type, name: str, text: str) -> Any:
    """``text`` as the value of ``cls``'s field ``name``; ``ConfigError`` naming the field, the text and what
    it should be."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        raise ConfigError(f"{name}: no such setting; the settings are {', '.join(fields)}")
    kind, optional = _kind(typing.get_type_hints(cls)[name])
    text = text.strip()
    if optional and text.lower() in ("", "none"):
        return None
    if text == "":
        raise ConfigError(f"{name}: needs a value ({field_help(cls, name)})")
    choices = typing.get_args(kind) if typing.get_origin(kind) is Literal else fields[name].metadata.get("choices")
    if choices:
        by_text = {str(choice): choice for choice in choices}
        if text not in by_text:
            raise ConfigError(f"{name}: {text!r} is not one of {', '.join(by_text)}")
        return by_text[text]
    if kind is bool:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise ConfigError(f"{name}: {text!r} is not true or false ({'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)})")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{name}: {text!r} is not a whole number") from None
    if kind is float:
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{name}: {text!r} is not a number") from None
        if not math.isfinite(value):  # nan, inf, 1e400: no setting means them
            raise ConfigError(f"{name}: {text!r} is not a finite number")
        return value
    return text


def config_from_strings(cls: type[C], texts: Mapping[str, str], base: C | None = None) -> C:
    """``base`` (default: ``cls()``) with each field named in ``texts`` read from its text, then checked by the
    config's own ``validated()`` when it has one (a range or a combination it refuses: one ``ConfigError``)."""
    values = {name: value_from_string(cls, name, text) for name, text in texts.items()}
    config = dataclasses.replace(base if base is not None else cls(), **values)
    validated = getattr(config, "validated", None)
    return validated() if validated is not None else config


def _kind(hint: Any) -> tuple[Any, bool]:
    """(the type a text converts to, whether None is allowed): ``int | None`` -> (int, True)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is Literal or not args:
        return hint, False
    kinds = [a for a in args if a is not type(None)]
    return (kinds[0] if len(kinds) == 1 else hint), len(kinds) < len(args)
