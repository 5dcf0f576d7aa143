"""The web server behind ``tweetsmith serve``: textual-serve's ``Server`` with tweetsmith's guard and page.

textual-serve (1.1.3, aiohttp) starts one app process per browser websocket, from a shell command, and
relays its screen and keys; the app itself runs unchanged under Textual's web driver. What we change:

- the socket: we bind it ourselves before serving, so a port in use or an address this machine lacks
  is one line and exit 2 (not a traceback after the banner), and ``--port 0`` can print the real port;
- the access guard of ``web_access`` in front of every route, and https when given a certificate;
- a cap on open tabs (``--max-sessions``): a tab over it is sent to a page saying the server is full
  (``/full``); a tab's slot is free as soon as its websocket closes, while its app winds down;
- the page: our template (title and icon say tweetsmith, every URL relative to the page so it works
  behind a forwarded port, fonts from the package rather than a CDN) and ``/favicon.svg``;
- shutdown: open sessions end at once (their apps quit), not after aiohttp's wait for idle websockets;
- the log: plain one-line records on stderr (textual-serve's rich log wraps and colours them), and no
  access log, so tokens in URLs are not written anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import signal
import socket
import ssl
import sys
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server, to_int

from tweetsmith.data.errors import TweetsmithError

from .web_access import AccessPolicy, access_middleware

WEB_DIR = Path(__file__).resolve().with_name("web")
TITLE = "tweetsmith"
FULL_GRACE_S = 2.0  # a reloading tab's old websocket may close just after its new one opens: wait that long
log = logging.getLogger("tweetsmith.serve")


class ServeError(TweetsmithError):
    """A server that cannot start (address or port); the message names the fix."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), or ``ServeError``."""
    if not 0 <= port <= 65535:
        raise ServeError(f"--port {port} is not a port number: use 1-65535 (or 0 for any free port)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as err:
        raise ServeError(
            f"--host {host!r} is not an address of this machine ({err.strerror}): "
            "use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {port} on {host} is in use: pick another with --port (0 picks a free one)"
            ) from None
        raise ServeError(
            f"cannot listen on {host}:{port} ({err.strerror}): use 127.0.0.1, 0.0.0.0 or an address of this machine"
        ) from None
    sock.setblocking(False)
    return sock


def is_loopback(sock: socket.socket) -> bool:
    return ipaddress.ip_address(sock.getsockname()[0]).is_loopback


def tls_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """A server context for the PEM ``certfile`` and its ``keyfile``, or ``ServeError``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as err:
        why = err.strerror or str(err)  # ssl.SSLError is an OSError too
        raise ServeError(
            f"cannot use --certfile {certfile} with --keyfile {keyfile} ({why}): give a PEM certificate "
            "and its private key"
        ) from None
    return context


def page_url(sock: socket.socket, token: str | None, https: bool = False) -> str:
    """The URL to print: the bound address (for 0.0.0.0 or ::, this machine's own address) and the token."""
    host, port = sock.getsockname()[:2]
    if ipaddress.ip_address(host).is_unspecified:
        host = _own_address(host)
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if https else 'http'}://{host}:{port}/" + (f"?token={token}" if token else "")


def _own_address(wildcard: str) -> str:
    """This machine's address on its default route (a UDP connect sends nothing), else its hostname."""
    family = socket.AF_INET6 if ":" in wildcard else socket.AF_INET
    probe = "2001:db8::1" if family == socket.AF_INET6 else "192.0.2.1"
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.connect((probe, 9))
            return udp.getsockname()[0]
    except OSError:
        return socket.gethostname()


class TweetsmithServer(Server):
    """Serves ``command`` (one app process per browser tab, at most ``max_sessions`` at once) on the bound
    ``sock`` under ``AccessPolicy``; https with ``ssl_context``. The banner: ``warning`` (first), the URL,
    ``notes``."""

    def __init__(
        self,
        command: str,
        sock: socket.socket,
        *,
        token: str | None,
        max_sessions: int,
        ssl_context: ssl.SSLContext | None = None,
        warning: str | None = None,
        notes: tuple[str, ...] = (),
    ):
        host, port = sock.getsockname()[:2]
        super().__init__(command, host=host, port=port, title=TITLE, templates_path=WEB_DIR)
        self.sock = sock
        self.ssl_context = ssl_context
        self.url = page_url(sock, token, https=ssl_context is not None)
        self.policy = AccessPolicy(token=token, cookie_name=f"tweetsmith_token_{port}")
        self.warning, self.notes = warning, notes
        self.sessions: set[asyncio.Task] = set()  # one per websocket handler (a tab and its app process)
        self.max_sessions = max_sessions
        self.tabs: set[asyncio.Task] = set()  # the sessions whose websocket is open: what the cap counts
        self._tab_closed = asyncio.Event()

    def initialize_logging(self) -> None:
        logging.basicConfig(
            level=logging.DEBUG if self.debug else logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(name)s: %(message)s",
            datefmt="%H:%M:%S",
        )

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(access_middleware(self.policy, log))
        app.router.add_get("/favicon.svg", self.handle_favicon)
        app.router.add_get("/full", self.handle_full)
        return app

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        return {"title": self.title, "font_size": to_int(request.query.get("fontsize", "16"), 16)}

    async def handle_favicon(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_DIR / "favicon.svg", headers={"Content-Type": "image/svg+xml"})

    async def handle_full(self, request: web.Request) -> web.Response:
        """The page a tab over the cap is sent to: how many sessions are open, and a link to try again."""
        context = {"title": self.title, "open": len(self.tabs), "max": self.max_sessions}
        status = 503 if len(self.tabs) >= self.max_sessions else 200
        return aiohttp_jinja2.render_template("full.html", request, context, status=status)

    # --- sessions -----------------------------------------------------------------------------------

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """textual-serve's session (the app process for one tab) when a slot is free, remembered so
        shutdown can end it; otherwise the tab is sent to the "full" page."""
        task = asyncio.current_task()
        assert task is not None
        self.sessions.add(task)
        try:
            if not await self._wait_for_slot():
                return await self._send_full(request)
            self.tabs.add(task)  # no await since the check: no other tab can take the slot in between
            return await super().handle_websocket(request)
        finally:
            self.sessions.discard(task)
            self._free_slot(task)

    async def _wait_for_slot(self) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FULL_GRACE_S
        while len(self.tabs) >= self.max_sessions:
            left = deadline - loop.time()
            if left <= 0:
                return False
            self._tab_closed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tab_closed.wait(), left)
        return True

    async def _send_full(self, request: web.Request) -> web.WebSocketResponse:
        log.warning(
            "session refused for %s: the server is full (%d of %d sessions open; --max-sessions)",
            request.remote,
            len(self.tabs),
            self.max_sessions,
        )
        websocket = web.WebSocketResponse()
        await websocket.prepare(request)
        # textual.js opens the URL an app asks it to: here the "full" page, beside the page (relative URL).
        await websocket.send_json(["open_url", {"url": "full", "new_tab": False}])
        await websocket.close()
        return websocket

    async def _process_messages(self, websocket: web.WebSocketResponse, app_service) -> None:
        """Relays a tab's keys until its websocket closes; then its slot is free at once, while textual-serve
        tells its app to quit and waits for it (the same task runs both, in handle_websocket)."""
        try:
            await super()._process_messages(websocket, app_service)
        finally:
            self._free_slot(asyncio.current_task())

    def _free_slot(self, task: asyncio.Task | None) -> None:
        if task in self.tabs:
            self.tabs.discard(task)
            self._tab_closed.set()

    async def on_shutdown(self, app: web.Application) -> None:
        """End every session at once: textual-serve then tells its app to quit and waits for it. Left
        alone, aiohttp waits for the websockets to drop by themselves (12-25 s measured here)."""
        for task in list(self.sessions):
            task.cancel()

    async def on_startup(self, app: web.Application) -> None:
        """The banner, once the server listens: the warning (if any) first, then the URL, then the notes."""
        for line in (*((self.warning,) if self.warning else ()), f"serving the app at {self.url}", *self.notes):
            print(f"tweetsmith: {line}", flush=True)

    def serve(self, debug: bool = False) -> None:
        """Like textual-serve's, on our socket, without its banner or access log."""
        self.debug = debug
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_exit)
        web.run_app(
            self._make_app(),
            sock=self.sock,
            ssl_context=self.ssl_context,
            handle_signals=False,
            loop=loop,
            access_log=None,
            print=lambda *_args: None,
        )
