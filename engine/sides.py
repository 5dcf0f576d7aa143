"""The two models a run compares: ``base`` (the model as loaded, before training) and ``tuned`` (the run's
final/ model). Named once here, so every room checks and types a side against the same two names."""

from __future__ import annotations

from typing import Literal

Side = Literal["base", "tuned"]
SIDES: tuple[Side, ...] = ("base", "tuned")
