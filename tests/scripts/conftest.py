"""The harness of the `tweetsmith serve` tests: the server as its own process, and the browser.

The server runs as users start it (``python -m tweetsmith.scripts.cli serve``), in its own process group
so that the test can end it with every app process it started; the browser is Debian's headless
Chromium driven by Playwright. xterm.js draws the terminal on a canvas, so the page has no text to
query: ``BrowserScreen`` feeds the websocket frames the browser receives into pyte, a terminal emulator,
and reads the screen the browser draws from the same bytes.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import selectors
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
START_TIMEOUT_S = 60
LOAD_TIMEOUT_S = 240  # a fresh interpreter imports torch and transformers and loads the model: ~25 s here, busy
SAMPLE_TIMEOUT_S = 180


class Served:
    """A running ``tweetsmith serve``: what it printed up to its URL, the URL, its log (stderr), its process."""

    def __init__(self, process: subprocess.Popen, lines: _Lines, banner: list[str], url: str):
        self.process, self.log_path, self.banner, self.url = process, lines.log_path, banner, url
        self._lines = lines

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @property
    def port(self) -> int:
        return urlsplit(self.url).port

    @property
    def token(self) -> str | None:
        return parse_qs(urlsplit(self.url).query).get("token", [None])[0]

    def read_line(self) -> str:
        """The next line it prints (after the URL: its notes)."""
        return self._lines.next()


@contextlib.contextmanager
def _serve(directory: Path, *flags: str, env: dict[str, str] | None = None):
    """Start ``tweetsmith serve --port 0 FLAGS`` in ``directory`` (its cwd, so its default root) in a new
    process group; kill the group (server and every app process it started) at the end, whatever happened."""
    environment = dict(
        os.environ,
        TWEETSMITH_HOME=str(directory / "home"),
        TWEETSMITH_RUNS=str(directory / "runs"),
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    ) | (env or {})
    log_path = directory / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tweetsmith.scripts.cli", "serve", "--port", "0", *flags],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=directory,
            env=environment,
            start_new_session=True,
        )
    try:
        lines, banner = _Lines(process, log_path), []
        while not (url := re.search(r"https?://\S+", banner[-1] if banner else "")):
            banner.append(lines.next())
            assert len(banner) <= 3, f"no URL in the server's first lines: {banner}"
        yield Served(process, lines, banner, url.group(0))
    finally:
        _kill_group(process)
        process.stdout.close()


class _Lines:
    """The lines a process prints, read as they come (select, then os.read: a buffered readline would take
    the later lines into its buffer, where select does not see them)."""

    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process, self.log_path, self.pending = process, log_path, b""

    def next(self) -> str:
        while b"\n" not in self.pending:
            with selectors.DefaultSelector() as selector:
                selector.register(self.process.stdout, selectors.EVENT_READ)
                if not selector.select(timeout=START_TIMEOUT_S):
                    raise AssertionError(
                        f"the server printed nothing in {START_TIMEOUT_S} s; its log:\n{self.log_path.read_text()}"
                    )
            chunk = os.read(self.process.stdout.fileno(), 65536)
            assert chunk, (
                f"the server exited ({self.process.wait()}) before printing its URL; its log:\n"
                f"{self.log_path.read_text()}"
            )
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode()


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):  # app processes that outlived the server, or a stuck server
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture()
def serve():
    """``with serve(directory, *flags, env={...}) as served:`` a running server (see ``_serve``)."""
    return _serve


def _get(
    port: int,
    path: str,
    headers: dict[str, str] | None = None,
    *,
    host: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
) -> http.client.HTTPResponse:
    connection = (
        http.client.HTTPSConnection(host, port, timeout=30, context=tls)
        if tls
        else http.client.HTTPConnection(host, port, timeout=30)
    )
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


@pytest.fixture()
def http_get():
    """``http_get(port, path, headers, host=, tls=)``: one plain request; the response with ``.body`` read."""
    return _get


# --- the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> dict:
    """The arguments of ``playwright.chromium.launch`` for Debian's Chromium, headless (Playwright's own
    browser download is not reachable everywhere we run): ``pw.chromium.launch(**chromium)``."""
    path = os.environ.get("TWEETSMITH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail(
            "the browser tests need Chromium: `apt-get install -y chromium` (as root; `make test` does "
            "it where apt is available), or set TWEETSMITH_CHROMIUM to a Chromium binary",
            pytrace=False,
        )
    try:
        import playwright.sync_api  # noqa: F401
        import pyte  # noqa: F401
    except ImportError as err:
        pytest.fail(f"the browser tests need {err.name}: pip install -e '.[test]'", pytrace=False)
    return {"executable_path": path, "headless": True, "args": CHROMIUM_ARGS}


class BrowserScreen:
    """The terminal the page draws, rebuilt from the app's websocket frames by pyte; it also remembers
    every line it ever showed, so a test can ask whether a passing state was shown (streaming)."""

    def __init__(self, websocket):
        import pyte

        query = parse_qs(urlsplit(websocket.url).query)
        self.screen = pyte.Screen(int(query["width"][0]), int(query["height"][0]))
        self.stream = pyte.ByteStream(self.screen)
        self.websocket = websocket
        self.lines_seen: set[str] = set()
        websocket.on("framereceived", self._received)
        websocket.on("framesent", self._sent)

    def _received(self, payload) -> None:
        if isinstance(payload, bytes):  # the app's output; text frames are the protocol's JSON
            self.stream.feed(payload)
            self.lines_seen.update(self.screen.display)

    def _sent(self, payload) -> None:
        import json

        if isinstance(payload, str) and payload.startswith('["resize"'):
            size = json.loads(payload)[1]
            self.screen.resize(size["height"], size["width"])

    @property
    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    @property
    def words(self) -> str:
        """The screen's text as one line of words (a message that wrapped reads whole again)."""
        return " ".join(self.text.split())

    def wait_for(self, predicate, timeout_s: float, what: str):
        """Wait until ``predicate(self)`` is truthy (checked on every frame) and return its value; the
        timeout only ends a test that would otherwise hang."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        deadline = time.monotonic() + timeout_s
        while not (found := predicate(self)):
            left = deadline - time.monotonic()
            assert left > 0, f"the browser never showed {what} in {timeout_s} s; the screen:\n{self.text}"
            with contextlib.suppress(PlaywrightTimeout):  # no frame for a second: check again
                self.websocket.wait_for_event("framereceived", timeout=min(left, 1.0) * 1000)
        return found


@pytest.fixture()
def browser_screen():
    """The ``BrowserScreen`` class: ``browser_screen(websocket)``."""
    return BrowserScreen


def open_app(page, url: str, screen_class=BrowserScreen) -> BrowserScreen:
    """Load the app's page at ``url`` and return the screen of the websocket it opens."""
    with page.expect_websocket(timeout=START_TIMEOUT_S * 1000) as opened:
        page.goto(url, timeout=START_TIMEOUT_S * 1000)
    return screen_class(opened.value)


@pytest.fixture()
def app_page():
    """``app_page(page, url)``: load the app there; its ``BrowserScreen``."""
    return open_app


def write_data(root: Path) -> Path:
    data = root / "data"
    data.mkdir()
    lines = [
        "\\alice- the cat sat on the mat and looked at the door",
        "\\bob- we went to the market on a sunny day",
        "\\alice- the best ideas come on a long walk",
        "\\bob- a good market has fresh bread",
    ]
    for split in ("train", "valid", "test"):
        (data / f"{split}.txt").write_text("\n".join(lines * 3) + "\n", encoding="utf-8")
    return data


@pytest.fixture()
def served_data(tmp_path) -> Path:
    """Tiny train/valid/test splits in ``tmp_path/data``."""
    return write_data(tmp_path)
