"""`tweetsmith serve`: the app in a real browser, and the doors it keeps shut.

The server runs as its own process (``python -m tweetsmith.scripts.cli serve``), as users start it; the
browser is Debian's headless Chromium driven by Playwright. xterm.js draws the terminal on a canvas, so
the page has no text to query: the test feeds the websocket frames the browser receives into pyte, a
terminal emulator, and reads the screen the browser draws from the same bytes (the screenshot shows it).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest

from tweetsmith.scripts.cli import build_parser, main
from tweetsmith.scripts.serve_cmd import app_argv

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
START_TIMEOUT_S = 60
LOAD_TIMEOUT_S = 240  # a fresh interpreter imports torch and transformers and loads the model: ~25 s here, busy
SAMPLE_TIMEOUT_S = 180


# --- the server process ---------------------------------------------------------------------------


class Served:
    """A running ``tweetsmith serve``: its printed URL, its log (stderr) and its process group."""

    def __init__(self, process: subprocess.Popen, log_path: Path, url: str):
        self.process, self.log_path, self.url = process, log_path, url

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @property
    def port(self) -> int:
        return urlsplit(self.url).port


@contextlib.contextmanager
def serve(tmp_path: Path, *flags: str):
    """Start ``tweetsmith serve --port 0 FLAGS`` in a new process group; kill the group (server and every
    app process it started) at the end, whatever happened."""
    env = dict(os.environ, TWEETSMITH_HOME=str(tmp_path / "home"), TWEETSMITH_RUNS=str(tmp_path / "runs"),
               HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "tweetsmith.scripts.cli", "serve", "--port", "0", *flags],
                                   stdout=subprocess.PIPE, stderr=log, cwd=tmp_path, env=env, start_new_session=True)
    try:
        line = _first_line(process, log_path)
        url = re.search(r"http://\S+", line)
        assert url, f"no URL in the server's first line: {line!r}"
        yield Served(process, log_path, url.group(0))
    finally:
        _kill_group(process)
        process.stdout.close()


def _first_line(process: subprocess.Popen, log_path: Path) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=START_TIMEOUT_S):
            raise AssertionError(f"the server printed nothing in {START_TIMEOUT_S} s; its log:\n{log_path.read_text()}")
    line = process.stdout.readline().decode()
    assert line, f"the server exited ({process.wait()}) before printing its URL; its log:\n{log_path.read_text()}"
    return line


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


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


# --- the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium (Playwright's own browser download is not reachable everywhere we run)."""
    path = os.environ.get("TWEETSMITH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail("the browser tests need Chromium: `apt-get install -y chromium` (as root; `make test` does "
                    "it where apt is available), or set TWEETSMITH_CHROMIUM to a Chromium binary", pytrace=False)
    try:
        import playwright.sync_api  # noqa: F401
        import pyte  # noqa: F401
    except ImportError as err:
        pytest.fail(f"the browser tests need {err.name}: pip install -e '.[test]'", pytrace=False)
    return path


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

    def wait_for(self, predicate, timeout_s: float, what: str):
        """Wait until ``predicate(screen text)`` is truthy (checked on every frame) and return its value."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        deadline = time.monotonic() + timeout_s
        while not (found := predicate(self.text)):
            left = deadline - time.monotonic()
            assert left > 0, f"the browser never showed {what} in {timeout_s} s; the screen:\n{self.text}"
            with contextlib.suppress(PlaywrightTimeout):  # no frame for a second: check again
                self.websocket.wait_for_event("framereceived", timeout=min(left, 1.0) * 1000)
        return found


def _write_data(root: Path) -> Path:
    data = root / "data"
    data.mkdir()
    lines = ["\\alice- the cat sat on the mat and looked at the door", "\\bob- we went to the market on a sunny day",
             "\\alice- the best ideas come on a long walk", "\\bob- a good market has fresh bread"]
    for split in ("train", "valid", "test"):
        (data / f"{split}.txt").write_text("\n".join(lines * 3) + "\n", encoding="utf-8")
    return data


def _card_text(screen: str) -> str:
    """The first card's body (left column, between ``@alice`` and its footer), without spaces."""
    rows = screen.splitlines()
    start = next(i for i, row in enumerate(rows) if "@alice" in row)
    body = []
    for row in rows[start + 1:]:
        left = row.split("│")[0]
        if re.search(r" · seed \d+", left):
            break
        body.append(left.replace("█", " "))
    return "".join("".join(body).split())


@pytest.mark.slow
def test_the_app_works_in_a_browser(tmp_path, tiny_llama_dir, chromium):
    from playwright.sync_api import sync_playwright

    from tweetsmith.engine.generate import stream_sample
    from tweetsmith.engine.models import load_model
    from tweetsmith.engine.sampling import SamplingConfig
    from tweetsmith.scripts.web_server import WEB_DIR

    data = _write_data(tmp_path)
    started = time.monotonic()
    with serve(tmp_path, "--model", str(tiny_llama_dir), "--data", str(data)) as served, sync_playwright() as pw:
        # loopback by default: no token, and the URL says so
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", served.url)
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        with page.expect_websocket(timeout=START_TIMEOUT_S * 1000) as opened:
            page.goto(served.url, timeout=START_TIMEOUT_S * 1000)
        screen = BrowserScreen(opened.value)

        # the page's title and icon say tweetsmith
        assert page.title() == "tweetsmith"
        icon_href = page.get_attribute("link[rel=icon]", "href")
        icon = page.request.get(urljoin(served.url, icon_href))
        assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.body() == (WEB_DIR / "favicon.svg").read_bytes()

        # the app's header arrives, naming the model once it has loaded
        model = re.escape(tiny_llama_dir.name)
        screen.wait_for(lambda text: re.search(rf"tweetsmith · {model} · cpu", text), LOAD_TIMEOUT_S, "the model's header")
        loaded_s = time.monotonic() - started

        # a slash command pins the seed (so the expected text is fixed); a typed username streams a sample
        page.focus(".xterm-helper-textarea")
        page.keyboard.type("/seed 7")
        page.keyboard.press("Enter")
        screen.wait_for(lambda text: re.search(r"seed +7 +/seed", text), 30, "the pinned seed")
        page.keyboard.type("alice: the")
        screen.wait_for(lambda text: "alice: the" in text and "@alice" not in text, 30, "the typed prompt")
        page.keyboard.press("Enter")
        footer = screen.wait_for(lambda text: re.search(r"seed (\d+)  ·  (\d+) tok · first", text), SAMPLE_TIMEOUT_S,
                                 "a finished sample")
        page.screenshot(path=str(tmp_path / "served-app.png"))
        shown = screen.text
        browser.close()

    assert (tmp_path / "served-app.png").stat().st_size > 10_000
    # It streamed: the card was on screen, still streaming, before it finished.
    assert any("streaming… (Esc stops)" in line for line in screen.lines_seen)
    # What the browser shows is the engine's sample for that seed, computed here independently.
    seed, tokens = int(footer.group(1)), int(footer.group(2))
    expected = stream_sample(load_model(str(tiny_llama_dir)), "alice", "the", SamplingConfig(seed=7)).sample
    assert seed == 7 and tokens == expected.new_tokens
    assert _card_text(shown) == "".join(("the" + expected.text).split())
    print(f"served app: model header after {loaded_s:.1f} s, whole test {time.monotonic() - started:.1f} s")


# --- the doors ------------------------------------------------------------------------------------


def test_another_address_needs_the_token(tmp_path):
    with serve(tmp_path, "--host", "0.0.0.0") as served:
        url = urlsplit(served.url)
        token = parse_qs(url.query)["token"][0]
        assert len(token) >= 32 and url.hostname != "0.0.0.0"  # generated, and printed with a reachable address
        port = served.port

        refused = [("/", {}), ("/?token=wrong", {}), ("/ws", {"Upgrade": "websocket", "Connection": "Upgrade"}),
                   ("/static/js/textual.js", {}), ("/favicon.svg", {})]
        for path, headers in refused:
            response = _get(port, path, headers)
            assert response.status == 403, path
            assert b"access token" in response.body

        page = _get(port, f"/?token={token}")
        assert page.status == 200 and b"<title>tweetsmith</title>" in page.body
        cookie = page.getheader("Set-Cookie")
        assert f"tweetsmith_token_{port}={token}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        # the page's cookie carries the token to what the page loads
        script = _get(port, "/static/js/textual.js", {"Cookie": f"tweetsmith_token_{port}={token}"})
        assert script.status == 200 and len(script.body) > 100_000
        log = served.log

    refusals = [line for line in log.splitlines() if " 403 " in line]
    assert len(refusals) == len(refused)
    assert refusals[0].endswith("403 GET / from 127.0.0.1: no access token")
    assert refusals[1].endswith("403 GET / from 127.0.0.1: wrong access token")
    assert [r.split(" 403 GET ")[1].split()[0] for r in refusals] == [p.split("?")[0] for p, _ in refused]
    assert token not in log and "wrong" not in log.replace("wrong access token", "")


def test_loopback_refuses_other_sites(tmp_path):
    """Without a token (loopback only), another web site in the same browser gets nothing: not through a
    DNS name pointed at 127.0.0.1 (Host), not through a websocket it opens (Origin)."""
    with serve(tmp_path) as served:
        port = served.port
        assert _get(port, "/").status == 200
        assert _get(port, "/", {"Host": f"localhost:{port}"}).status == 200
        assert _get(port, "/", {"Host": f"evil.example:{port}"}).status == 403
        upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Origin": "http://evil.example"}
        assert _get(port, "/ws", upgrade).status == 403
        log = served.log
    refusals = [line for line in log.splitlines() if " 403 " in line]
    assert len(refusals) == 2
    assert "Host 'evil.example:" in refusals[0] and "--token" in refusals[0]
    assert "websocket opened by another site (http://evil.example)" in refusals[1]


def test_bad_flags_are_one_line_and_exit_2(capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert capsys.readouterr().err == (f"tweetsmith: error: port {port} on 127.0.0.1 is in use: pick another with "
                                       "--port (0 picks a free one)\n")
    assert main(["serve", "--host", "192.0.2.1", "--port", "0"]) == 2  # an address this machine lacks
    err = capsys.readouterr().err
    assert err.startswith("tweetsmith: error: cannot listen on 192.0.2.1:0") and err.count("\n") == 1
    assert main(["serve", "--port", "70000"]) == 2
    assert "is not a port number" in capsys.readouterr().err


def test_app_flags_are_the_tui_flags():
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--token", "t", "--model", "m", "--run", "r", "--data", "d"])
    assert app_argv(args) == ["--model", "m", "--run", "r", "--data", "d"]
    assert app_argv(build_parser().parse_args(["serve"])) == []


@pytest.mark.parametrize(("token", "request_", "refused"), [
    ("s3cret", dict(query_token="s3cret"), None),
    ("s3cret", dict(cookie_token="s3cret", host="gpu.example:8000"), None),
    ("s3cret", dict(query_token="s3cre"), "wrong access token"),
    ("s3cret", dict(cookie_token="nope"), "no access token"),
    (None, dict(host="[::1]:8000", origin="http://[::1]:8000", websocket=True), None),
    (None, dict(host="localhost:9000", origin="http://localhost:9000", websocket=True), None),  # ssh -L 9000:...
    (None, dict(host="app.localhost:8000"), None),
    (None, dict(host="10.1.2.3:8000"), "Host '10.1.2.3:8000' is not this machine's loopback"),
    (None, dict(host="[bad:8000"), "Host '[bad:8000' is not this machine's loopback"),
    (None, dict(origin="http://127.0.0.1:8001", websocket=True), "websocket opened by another site"),
    (None, dict(origin="http://evil.example"), None),  # a page load: another site cannot read it
])
def test_access_policy(token, request_, refused):
    from tweetsmith.scripts.web_access import AccessPolicy

    fields = dict(query_token=None, cookie_token=None, host="127.0.0.1:8000", origin=None, websocket=False) | request_
    reason = AccessPolicy(token, "tweetsmith_token_8000").refusal(**fields)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith(refused)
