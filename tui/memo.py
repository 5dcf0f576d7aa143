"""A value built once per key for worker threads: a memorisation index, a pool of human tweets.

Building one takes seconds, and several workers may ask at once (a sample finishes while the previous
one is still being checked): the first builds, the others wait for it instead of building again. Only
the latest key is kept (the app has one data directory open at a time). This is a cache of pure
results, not app state: what the screen shows is still assigned by message handlers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    def __init__(self, build: Callable[[K], V]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._key: K | None = None
        self._value: V | None = None

    def get(self, key: K) -> V:
        with self._lock:
            if self._value is None or self._key != key:
                self._value, self._key = self._build(key), key
            return self._value
