"""Who may use a served app: the access token, and on the loopback address the browser's own page.

A served app reads and writes files on the server, so an open port must never be an open door.

- With a token (required on any address but the loopback), every request carries it: ``?token=`` on
  the page URL that ``tweetsmith serve`` prints; that page load sets a cookie (HttpOnly, SameSite=Strict)
  which carries it on to the websocket, the static files and downloads. Compared in constant time.
- Without one (loopback only), a browser on this machine, or one reaching it through an SSH or editor
  port forward, is trusted, but other web sites open in it are not: they cannot read the page, yet they
  can open a websocket to any address (websockets have no CORS) and can point their own DNS name at
  127.0.0.1. So the Host must name the loopback and a websocket's Origin must be the page's own. An
  HTTP proxy that forwards the port under another name fails one of the two: it needs a token.

A refused request gets 403 and one log line naming why (never the token).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
REFUSED_TEXT = (
    "403 Forbidden: this tweetsmith server needs its access token. "
    "Open the URL it printed when it started (it ends in ?token=...).\n"
)


def is_loopback_name(host: str) -> bool:
    """``localhost``, ``127.0.0.1``, ``[::1]`` (without a port)."""
    name = host.strip("[]").lower().rstrip(".")
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _netloc_host(netloc: str) -> str:
    """``example.com`` from ``example.com:8000``; "" for a malformed one."""
    try:
        return urlsplit("//" + netloc).hostname or ""
    except ValueError:
        return ""


def _origin_netloc(origin: str) -> str | None:
    try:
        return urlsplit(origin).netloc.lower()
    except ValueError:
        return None


def _same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


@dataclass(frozen=True)
class AccessPolicy:
    """The rules above; ``token`` None means the loopback-only rules."""

    token: str | None
    cookie_name: str

    def refusal(
        self, *, query_token: str | None, cookie_token: str | None, host: str, origin: str | None, websocket: bool
    ) -> str | None:
        """Why a request is refused, or None when it may pass."""
        if self.token is not None:
            if _same(query_token, self.token) or _same(cookie_token, self.token):
                return None
            return "wrong access token" if query_token is not None else "no access token"
        if not is_loopback_name(_netloc_host(host)):
            return f"Host {host!r} is not this machine's loopback; start with --token to serve through it"
        if websocket and origin is not None and _origin_netloc(origin) != host.lower():
            return f"websocket opened by another site ({origin}); start with --token to serve through a proxy"
        return None


def access_middleware(policy: AccessPolicy, log: logging.Logger):
    """An aiohttp middleware applying ``policy`` to every request; sets the token cookie on a page load."""

    @web.middleware
    async def guard(request: web.Request, handler):
        query_token = request.query.get("token")
        reason = policy.refusal(
            query_token=query_token,
            cookie_token=request.cookies.get(policy.cookie_name),
            host=request.host,
            origin=request.headers.get("Origin"),
            websocket=request.headers.get("Upgrade", "").lower() == "websocket",
        )
        if reason is not None:
            log.warning("403 %s %s from %s: %s", request.method, request.path, request.remote, reason)
            raise web.HTTPForbidden(text=REFUSED_TEXT)
        response = await handler(request)
        if policy.token is not None and query_token is not None and isinstance(response, web.Response):
            response.set_cookie(
                policy.cookie_name, policy.token, path="/", httponly=True, samesite="Strict", secure=request.secure
            )
        return response

    return guard
