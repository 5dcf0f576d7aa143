"""Fixtures for the app's pilot tests: the tiny Llama loaded once, and an app factory around it.

Seeds: with ``/seed auto`` the app draws a fresh seed from the OS for every request, so a test that
depended on the sample would pass or fail by luck. Here every test draws its fresh seeds from a
``random.Random`` seeded by ``TWEETSMITH_TEST_SEED`` (default ``DEFAULT_TEST_SEED``, printed in pytest's
header) and the test's id: ``TWEETSMITH_TEST_SEED=N pytest tests/tui`` reruns a run exactly, a single
test included, and other values of N try other seeds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

DEFAULT_TEST_SEED = 1


def chosen_seed() -> int:
    """``TWEETSMITH_TEST_SEED`` (a whole number), else ``DEFAULT_TEST_SEED``."""
    raw = os.environ.get("TWEETSMITH_TEST_SEED", "").strip()
    try:
        return int(raw) if raw else DEFAULT_TEST_SEED
    except ValueError:
        raise pytest.UsageError(f"TWEETSMITH_TEST_SEED must be a whole number, got {raw!r}") from None


def pytest_report_header(config):
    return (
        f"tweetsmith app tests: TWEETSMITH_TEST_SEED={chosen_seed()} (the fresh seeds the app draws; "
        "set it to rerun these draws)"
    )


@pytest.fixture(autouse=True)
def _seeded_fresh_seeds(request, monkeypatch):
    """The app's fresh seeds come from ``TWEETSMITH_TEST_SEED`` and the test's id, not from the OS."""
    from tweetsmith.engine import sampling

    monkeypatch.setattr(sampling, "FRESH_SEEDS", random.Random(f"{chosen_seed()}:{request.node.nodeid}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed app test says which seed its fresh seeds came from."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        report.sections.append(
            ("tweetsmith seed", f"TWEETSMITH_TEST_SEED={chosen_seed()} (rerun with it to repeat the draws)")
        )


@pytest.fixture(scope="session")
def tiny_loaded(tiny_llama_dir):
    """The tiny model loaded through the users' path, with a stable display name (for snapshots)."""
    from tweetsmith.engine.models import load_model

    loaded = load_model(str(tiny_llama_dir))
    loaded.info = dataclasses.replace(loaded.info, name="tiny-llama")
    return loaded


@pytest.fixture(autouse=True)
def _one_torch_thread(request):
    """The tiny model gains nothing from threads, and on a busy 2-core machine two of them spin-wait
    (60 tokens: 0.2 s with one thread, 5 s with two under load). Restored after each test; tests of
    the real embedded model keep torch's default, as users have it."""
    import torch

    if request.node.get_closest_marker("embedded"):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def tui_home(tmp_path, monkeypatch) -> Path:
    """A private cache root, so no test reads or writes the user's sessions or data (or its error log)."""
    home = tmp_path / "home"
    monkeypatch.setenv("TWEETSMITH_HOME", str(home))
    monkeypatch.setenv("TWEETSMITH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("TWEETSMITH_STATE", str(tmp_path / "state"))
    return home


@pytest.fixture()
def make_app(tiny_loaded, small_splits, tmp_path, tui_home):
    """``make_app(**overrides)`` -> a TweetsmithApp on the tiny model and the small splits."""
    from tweetsmith.tui.app import TweetsmithApp

    def make(**kwargs):
        kwargs.setdefault("loaded", tiny_loaded)
        kwargs.setdefault("data_dir", small_splits)
        kwargs.setdefault("session_path", tmp_path / "session" / "chat.jsonl")
        return TweetsmithApp(**kwargs)

    return make


async def _settle(pilot) -> None:
    from textual.worker import WorkerCancelled, WorkerFailed

    for _ in range(3):
        try:
            await pilot.app.workers.wait_for_complete()
        except (WorkerCancelled, WorkerFailed):
            pass
        await pilot.pause()


@pytest.fixture()
def settle():
    """``await settle(pilot)``: every worker has finished (cancelled or failed ones too) and the UI caught up."""
    return _settle


async def _submit(pilot, *lines: str) -> None:
    for line in lines:
        prompt = pilot.app.main.prompt
        prompt.focus()
        prompt.value = line
        prompt.cursor_position = len(line)
        await pilot.press("enter")


@pytest.fixture()
def submit():
    """``await submit(pilot, "/temp 0.5", ...)``: put each line in the input and press Enter (typing it
    key by key is tested once; here it would only cost time)."""
    return _submit


class MessageLog:
    """A ``message_hook`` that records the app's messages and lets a test await one.

    Tests wait on what the app says happened (a message from a worker, the end of a training), never on
    the clock: ``await log.wait_for(lambda m: isinstance(m, TrainingEnded))``. The hook runs on the
    event loop as each message is dispatched, so setting an asyncio.Event there is safe. Iterating the
    log gives every message seen (one is dispatched once per node it bubbles through).
    """

    def __init__(self) -> None:
        self.seen: list = []
        self.arrived: list[float] = []  # perf_counter() at each dispatch, parallel to ``seen``
        self._waits: list[tuple[Callable, asyncio.Event, list]] = []

    def __call__(self, message) -> None:
        self.seen.append(message)
        self.arrived.append(time.perf_counter())
        for predicate, event, found in self._waits:
            if not event.is_set() and predicate(message):
                found.append((message, self.arrived[-1]))
                event.set()

    def __iter__(self):
        return iter(self.seen)

    def of(self, kind: type) -> list:
        """The distinct messages of a kind, in order."""
        return list({id(m): m for m in self.seen if isinstance(m, kind)}.values())

    async def wait_for(self, predicate: Callable, hang_guard_s: float = 900.0):
        """(message, arrival time) of the first message for which ``predicate`` holds, one seen before
        included. ``hang_guard_s`` only turns a hang (a message that never comes) into a failure."""
        for message, arrived in zip(self.seen, self.arrived, strict=True):  # kept in step by __call__
            if predicate(message):
                return message, arrived
        entry = (predicate, asyncio.Event(), [])
        self._waits.append(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), hang_guard_s)
        except asyncio.TimeoutError:
            raise AssertionError(f"no such message in {hang_guard_s:.0f} s: the app never said it happened") from None
        finally:
            self._waits.remove(entry)
        return entry[2][0]


@pytest.fixture()
def message_log() -> MessageLog:
    """``run_test(message_hook=message_log)``, then ``await message_log.wait_for(predicate)``."""
    return MessageLog()
