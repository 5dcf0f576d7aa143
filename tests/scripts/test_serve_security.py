"""`tweetsmith serve` tried as an attacker would: paths out of the root typed in a browser, one tab more
than the server holds, and the token over https.

Each test runs the real server process and drives the app in headless Chromium (harness: conftest.py).
Waits are on what the app or the page says; the timeouts only end a test that would otherwise hang.
"""

from __future__ import annotations

import re
import ssl

import pytest

LOAD_TIMEOUT_S = 240  # a fresh interpreter imports torch and transformers and loads the model: ~25 s here, busy
SAMPLE_TIMEOUT_S = 180
MESSAGE_TIMEOUT_S = 30


def _files(directory) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _top(directory) -> list[str]:
    """What ``directory`` holds, less the harness's own: the server's log and the apps' cache (TWEETSMITH_HOME)."""
    return sorted(p.name for p in directory.iterdir() if p.name not in ("serve.log", "home"))


def _type(page, line: str) -> None:
    page.keyboard.type(line)
    page.keyboard.press("Enter")


@pytest.mark.slow
def test_save_stays_in_the_root_and_keeps_what_is_there(
    tmp_path, tiny_llama_dir, served_data, chromium, serve, app_page
):
    from playwright.sync_api import sync_playwright

    root, outside, home = tmp_path / "root", tmp_path / "outside", tmp_path / "home-user"
    for directory in (root, outside, home):
        directory.mkdir()
    (root / "link").symlink_to(outside)  # a symlink inside the root that leads out of it
    (home / ".bashrc").write_text("# the server user's shell start-up\n")
    (outside / "kept.md").write_text("someone else's file\n")
    before = {"outside": _files(outside), "home": _files(home), "top": _top(tmp_path)}

    flags = ("--root", "root", "--model", str(tiny_llama_dir), "--data", str(served_data))  # a relative root
    with serve(tmp_path, *flags, env={"HOME": str(home)}) as served, sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        screen = app_page(page, served.url)
        model = re.escape(tiny_llama_dir.name)
        screen.wait_for(
            lambda s: re.search(rf"tweetsmith · {model} · cpu", s.text), LOAD_TIMEOUT_S, "the model's header"
        )
        page.focus(".xterm-helper-textarea")

        refused = [
            f"{outside}/abs.md",
            "../x.md",
            "link/evil.md",
            "~/.bashrc",
            "link/kept.md",
            f"{root}/../outside/y.md",
        ]
        for path in refused:
            _type(page, f"/save {path}")
            said = (
                f"/save: {path} is outside {root.resolve()}, the only folder this app may use; give a path inside it "
                "(relative paths start there)"
            )
            screen.wait_for(lambda s: said in s.words, MESSAGE_TIMEOUT_S, f"the refusal of /save {path}")

        _type(page, "/save .profile")  # inside the root, but not markdown: a shell would read it
        screen.wait_for(
            lambda s: "/save writes markdown here: give a name ending in .md, e.g. /save .profile.md" in s.words,
            MESSAGE_TIMEOUT_S,
            "the refusal of /save .profile",
        )

        _type(page, "/save chat.md")
        screen.wait_for(lambda s: "saved 0 samples to" in s.words, MESSAGE_TIMEOUT_S, "the first save")
        first = (root / "chat.md").read_bytes()

        _type(page, "alice: the")
        screen.wait_for(lambda s: re.search(r"seed \d+  ·  \d+ tok · first", s.text), SAMPLE_TIMEOUT_S, "a sample")
        _type(page, "/save chat.md")
        screen.wait_for(
            lambda s: "chat.md exists and is kept: saved 1 samples to" in s.words, MESSAGE_TIMEOUT_S, "the second save"
        )
        browser.close()

    # Nothing left the root; the existing files outside it are as they were.
    assert {"outside": _files(outside), "home": _files(home), "top": _top(tmp_path)} == before
    # The first export is kept; the second went beside it.
    assert sorted(p.name for p in root.iterdir()) == ["chat-2.md", "chat.md", "link"]
    assert (root / "chat.md").read_bytes() == first and first.startswith(b"# tweetsmith chat")
    assert "### @alice" not in first.decode() and "### @alice" in (root / "chat-2.md").read_text()


@pytest.mark.slow
def test_one_tab_more_than_max_sessions_gets_the_full_page_until_one_closes(
    tmp_path, tiny_llama_dir, served_data, chromium, serve, app_page, browser_screen
):
    from playwright.sync_api import sync_playwright

    flags = ("--max-sessions", "1", "--model", str(tiny_llama_dir), "--data", str(served_data))
    model = re.escape(tiny_llama_dir.name)
    header = re.compile(rf"tweetsmith · {model} · cpu")
    with serve(tmp_path, *flags) as served, sync_playwright() as pw:
        assert "each browser tab runs its own app, at most 1 at once (--max-sessions);" in served.read_line()
        browser = pw.chromium.launch(**chromium)
        first = browser.new_page(viewport={"width": 1280, "height": 800})
        app_page(first, served.url).wait_for(lambda s: header.search(s.text), LOAD_TIMEOUT_S, "the first tab's app")

        second = browser.new_page(viewport={"width": 1280, "height": 800})
        second.goto(served.url)
        second.wait_for_url(f"http://127.0.0.1:{served.port}/full", timeout=LOAD_TIMEOUT_S * 1000)
        assert second.inner_text("#full") == "The server is full"
        assert second.inner_text("#count").startswith("1 of 1 sessions are open")
        refusals = [line for line in served.log.splitlines() if "session refused" in line]
        assert [line.split(": ", 1)[1] for line in refusals] == [
            "session refused for 127.0.0.1: the server is full (1 of 1 sessions open; --max-sessions)"
        ]

        first.close()  # its websocket closes: the slot is free
        with second.expect_websocket(timeout=LOAD_TIMEOUT_S * 1000) as opened:
            second.click("#again")  # the full page's link back to the app
        browser_screen(opened.value).wait_for(lambda s: header.search(s.text), LOAD_TIMEOUT_S, "the second tab's app")
        browser.close()


@pytest.mark.slow
def test_https_end_to_end(tmp_path, tiny_llama_dir, served_data, chromium, serve, app_page, http_get):
    import trustme
    from playwright.sync_api import sync_playwright

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(keyfile))
    client = ssl.create_default_context()
    ca.configure_trust(client)

    flags = (
        "--host",
        "0.0.0.0",
        "--certfile",
        str(certfile),
        "--keyfile",
        str(keyfile),
        "--model",
        str(tiny_llama_dir),
        "--data",
        str(served_data),
    )
    with serve(tmp_path, *flags) as served, sync_playwright() as pw:
        # off the loopback, but https: no clear-text warning; the URL says https
        assert len(served.banner) == 1 and re.fullmatch(
            r"tweetsmith: serving the app at https://\S+/\?token=[\w-]{32}", served.banner[0]
        )
        token, port = served.token, served.port
        assert http_get(port, "/", tls=client).status == 403
        page = http_get(port, f"/?token={token}", tls=client)  # the certificate checks out against the test's CA
        assert page.status == 200 and b"<title>tweetsmith</title>" in page.body
        cookie = page.getheader("Set-Cookie")
        assert f"tweetsmith_token_{port}={token}" in cookie and "Secure" in cookie and "HttpOnly" in cookie

        browser = pw.chromium.launch(**chromium)
        context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
        screen = app_page(context.new_page(), f"https://127.0.0.1:{port}/?token={token}")
        assert screen.websocket.url.startswith(f"wss://127.0.0.1:{port}/ws?")
        model = re.escape(tiny_llama_dir.name)
        screen.wait_for(
            lambda s: re.search(rf"tweetsmith · {model} · cpu", s.text), LOAD_TIMEOUT_S, "the model's header over wss"
        )
        browser.close()
