"""`tweetsmith serve`: the app in a real browser, and the doors it keeps shut (the token, its flags).

The server runs as its own process, as users start it; the browser is Debian's headless Chromium driven
by Playwright (the harness is in conftest.py). The root, the cap on sessions and https are in
test_serve_security.py.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest

from tweetsmith.scripts.cli import build_parser, main
from tweetsmith.scripts.serve_cmd import app_argv
from tweetsmith.scripts.web_access import REFUSED_TEXT

LOAD_TIMEOUT_S = 240  # a fresh interpreter imports torch and transformers and loads the model: ~25 s here, busy
SAMPLE_TIMEOUT_S = 180


def _card_text(screen: str) -> str:
    """The first card's body (left column, between ``@alice`` and its footer), without spaces."""
    rows = screen.splitlines()
    start = next(i for i, row in enumerate(rows) if "@alice" in row)
    body = []
    for row in rows[start + 1 :]:
        left = row.split("│")[0]
        if re.search(r" · seed \d+", left):
            break
        body.append(left.replace("█", " "))
    return "".join("".join(body).split())


@pytest.mark.slow
def test_the_app_works_in_a_browser(tmp_path, tiny_llama_dir, served_data, chromium, serve, app_page):
    from playwright.sync_api import sync_playwright

    from tweetsmith.engine.generate import stream_sample
    from tweetsmith.engine.models import load_model
    from tweetsmith.engine.sampling import SamplingConfig
    from tweetsmith.scripts.web_server import WEB_DIR

    started = time.monotonic()
    # fp32 as the expected sample below: "auto" would time bf16 against fp32 at the tiny model's shapes, where
    # the machine's load, not its hardware, decides (seen in a full suite run beside a training)
    with (
        serve(tmp_path, "--model", str(tiny_llama_dir), "--data", str(served_data), "--precision", "fp32") as served,
        sync_playwright() as pw,
    ):
        # a token on the loopback too, in the URL printed
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{32}", served.url)
        browser = pw.chromium.launch(**chromium)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        screen = app_page(page, served.url)

        # the page's title and icon say tweetsmith
        assert page.title() == "tweetsmith"
        icon_href = page.get_attribute("link[rel=icon]", "href")
        icon = page.request.get(urljoin(served.url, icon_href))
        assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.body() == (WEB_DIR / "favicon.svg").read_bytes()

        # the app's header arrives, naming the model once it has loaded
        model = re.escape(tiny_llama_dir.name)
        screen.wait_for(
            lambda s: re.search(rf"tweetsmith · {model} · cpu", s.text), LOAD_TIMEOUT_S, "the model's header"
        )
        loaded_s = time.monotonic() - started

        # a slash command pins the seed (so the expected text is fixed); a typed username streams a sample
        page.focus(".xterm-helper-textarea")
        page.keyboard.type("/seed 7")
        page.keyboard.press("Enter")
        screen.wait_for(lambda s: re.search(r"seed +7 +/seed", s.text), 30, "the pinned seed")
        page.keyboard.type("alice: the")
        screen.wait_for(lambda s: "alice: the" in s.text and "@alice" not in s.text, 30, "the typed prompt")
        page.keyboard.press("Enter")
        footer = screen.wait_for(
            lambda s: re.search(r"seed (\d+)  ·  (\d+) tok · first", s.text), SAMPLE_TIMEOUT_S, "a finished sample"
        )
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


def test_the_loopback_needs_the_token_too(tmp_path, serve, http_get):
    """Every user and process of the machine reaches 127.0.0.1: the token is required there as well."""
    with serve(tmp_path) as served:
        token, port = served.token, served.port
        assert served.banner == [f"tweetsmith: serving the app at http://127.0.0.1:{port}/?token={token}"]
        assert len(token) >= 32
        notes = served.read_line()
        assert notes.endswith("; only requests carrying the token get in")
        assert re.search(
            r"at most \d+ at once \(each app with gpt2-medium takes ~[\d.]+ GiB of [\d.]+ GiB available\)", notes
        )
        assert (
            served.read_line()
            == f"tweetsmith: the apps read and write files only under {tmp_path.resolve()} (--root); Ctrl+C stops"
        )
        refused = http_get(port, "/")
        assert (refused.status, refused.body) == (403, REFUSED_TEXT.encode())
        assert http_get(port, "/ws", {"Upgrade": "websocket", "Connection": "Upgrade"}).status == 403
        page = http_get(port, f"/?token={token}")
        assert page.status == 200 and b"<title>tweetsmith</title>" in page.body
        log = served.log
    refusals = [line for line in log.splitlines() if " 403 " in line]
    assert [r.split(": ", 1)[1] for r in refusals] == [
        "403 GET / from 127.0.0.1: no access token",
        "403 GET /ws from 127.0.0.1: no access token",
    ]


def test_another_address_needs_the_token_and_says_it_travels_in_clear(tmp_path, serve, http_get):
    with serve(tmp_path, "--host", "0.0.0.0") as served:
        assert served.banner[0] == (
            "tweetsmith: warning: plain http on 0.0.0.0: the token travels in clear text to "
            "anyone on the network path; reach a 127.0.0.1 server with ssh -L instead, or "
            "serve https with --certfile/--keyfile"
        )
        url = urlsplit(served.url)
        token = parse_qs(url.query)["token"][0]
        assert len(token) >= 32 and url.hostname != "0.0.0.0"  # generated, and printed with a reachable address
        port = served.port

        refused = [
            ("/", {}),
            ("/?token=wrong", {}),
            ("/ws", {"Upgrade": "websocket", "Connection": "Upgrade"}),
            ("/static/js/textual.js", {}),
            ("/favicon.svg", {}),
            ("/full", {}),
        ]
        for path, headers in refused:
            response = http_get(port, path, headers)
            assert response.status == 403, path
            assert b"access token" in response.body

        page = http_get(port, f"/?token={token}")
        assert page.status == 200 and b"<title>tweetsmith</title>" in page.body
        cookie = page.getheader("Set-Cookie")
        assert f"tweetsmith_token_{port}={token}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
        # the page's cookie carries the token to what the page loads
        script = http_get(port, "/static/js/textual.js", {"Cookie": f"tweetsmith_token_{port}={token}"})
        assert script.status == 200 and len(script.body) > 100_000
        log = served.log

    refusals = [line for line in log.splitlines() if " 403 " in line]
    assert len(refusals) == len(refused)
    assert refusals[0].endswith("403 GET / from 127.0.0.1: no access token")
    assert refusals[1].endswith("403 GET / from 127.0.0.1: wrong access token")
    assert [r.split(" 403 GET ")[1].split()[0] for r in refusals] == [p.split("?")[0] for p, _ in refused]
    assert token not in log and "wrong" not in log.replace("wrong access token", "")


def test_no_token_on_the_loopback_says_who_can_use_it_and_refuses_other_sites(tmp_path, serve, http_get):
    """--no-token (loopback only): every local user gets in, and the banner says so; another web site in the
    same browser gets nothing: not through a DNS name pointed at 127.0.0.1 (Host), not through a websocket
    it opens (Origin)."""
    with serve(tmp_path, "--no-token") as served:
        port = served.port
        assert served.url == f"http://127.0.0.1:{port}/"
        assert served.read_line().endswith(
            "; no token (--no-token): every user and process on this machine can use the app through this port"
        )
        assert http_get(port, "/").status == 200
        assert http_get(port, "/", {"Host": f"localhost:{port}"}).status == 200
        assert http_get(port, "/", {"Host": f"evil.example:{port}"}).status == 403
        upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Origin": "http://evil.example"}
        assert http_get(port, "/ws", upgrade).status == 403
        log = served.log
    refusals = [line for line in log.splitlines() if " 403 " in line]
    assert len(refusals) == 2
    assert "Host 'evil.example:" in refusals[0] and "--token" in refusals[0]
    assert "websocket opened by another site (http://evil.example)" in refusals[1]


def test_no_token_off_the_loopback_is_one_line_and_exit_2(capsys):
    assert main(["serve", "--host", "0.0.0.0", "--port", "0", "--no-token"]) == 2
    assert capsys.readouterr() == (
        "",
        "tweetsmith: error: --no-token is for the loopback address only, not --host "
        "0.0.0.0: drop --no-token (the token then guards the app), or serve on 127.0.0.1 "
        "and forward the port with ssh -L\n",
    )


def test_bad_flags_are_one_line_and_exit_2(capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert capsys.readouterr().err == (
        f"tweetsmith: error: port {port} on 127.0.0.1 is in use: pick another with --port (0 picks a free one)\n"
    )
    assert main(["serve", "--host", "192.0.2.1", "--port", "0"]) == 2  # an address this machine lacks
    err = capsys.readouterr().err
    assert err.startswith("tweetsmith: error: cannot listen on 192.0.2.1:0") and err.count("\n") == 1
    assert main(["serve", "--port", "70000"]) == 2
    assert "is not a port number" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (
            ["--root", "no-such-dir"],
            "--root no-such-dir: no such directory; give an existing directory (the apps read and write only under it)",
        ),
        (
            ["--certfile", "cert.pem"],
            "--certfile and --keyfile go together: give both (a PEM certificate and its private key)",
        ),
        (
            ["--certfile", "missing.pem", "--keyfile", "missing.pem"],
            "cannot use --certfile missing.pem with --keyfile missing.pem (No such file or directory): give a PEM certificate "
            "and its private key",
        ),
        (["--max-sessions", "0"], "--max-sessions 0: give 1 or more"),
        (["--no-token", "--token", "t"], "--no-token and --token contradict each other: give one of them"),
    ],
)
def test_flags_that_cannot_work_are_one_line_and_exit_2(flags, error, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--port", "0", *flags]) == 2
    assert capsys.readouterr() == ("", f"tweetsmith: error: {error}\n")


def test_app_flags_are_the_tui_flags():
    args = build_parser().parse_args(
        ["serve", "--host", "0.0.0.0", "--token", "t", "--model", "m", "--run", "r", "--data", "d"]
    )
    assert app_argv(args) == ["--model", "m", "--run", "r", "--data", "d"]
    assert app_argv(build_parser().parse_args(["serve"])) == []
    assert app_argv(build_parser().parse_args(["serve", "--root", "/srv/x", "--no-token", "--max-sessions", "2"])) == [
        "--root",
        "/srv/x",
    ]


@pytest.mark.parametrize(
    ("token", "request_", "refused"),
    [
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
    ],
)
def test_access_policy(token, request_, refused):
    from tweetsmith.scripts.web_access import AccessPolicy

    fields = dict(query_token=None, cookie_token=None, host="127.0.0.1:8000", origin=None, websocket=False) | request_
    reason = AccessPolicy(token, "tweetsmith_token_8000").refusal(**fields)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith(refused)


# --- the cap on sessions ----------------------------------------------------------------------------


def test_the_default_cap_is_what_available_memory_holds_for_one_app_with_its_model(
    tmp_path, monkeypatch, run_record_writer
):
    import json

    from tweetsmith.engine import memory
    from tweetsmith.scripts import web_sessions as ws

    gib = 2**30
    monkeypatch.setattr(memory, "available_bytes", lambda device: 16 * gib)
    app = ws.APP_RUNTIME_BYTES + 2 * 134_515_008 * 4  # SmolLM2-135M: base and tuned, fp32
    assert ws.session_cap(None, "smollm2-135m", None) == ws.SessionCap(16 * gib // app, app, 16 * gib, "smollm2-135m")
    assert ws.session_cap(3, "smollm2-135m", None).sessions == 3  # --max-sessions wins
    monkeypatch.setattr(memory, "available_bytes", lambda device: gib // 2)
    assert ws.session_cap(None, "gpt2-xl", None).sessions == 1  # at least one

    # a model directory: its weight files, scaled to fp32 when stored in 16 bits; a run: its base model
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"\0" * 1000)
    (model / "config.json").write_text(json.dumps({"torch_dtype": "bfloat16"}))
    assert ws.weight_bytes(str(model)) == 2000
    run = tmp_path / "run"
    run.mkdir()
    run_record_writer(run, model=str(model), data="d", method="lora")
    assert ws.weight_bytes(str(run)) == 2000
    assert ws.session_cap(None, None, str(run)).model == str(model)
    assert ws.weight_bytes("someone/not-cached") == 354_823_168 * 4  # unknown: as large as the default model
