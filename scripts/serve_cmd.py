"""`tweetsmith serve`: the app in a web browser, for machines where only a forwarded port can be shown.

Hosted notebook GPUs show no terminal app, but they forward ports. textual-serve runs the same app,
unchanged, once per browser tab (``python -m tweetsmith.scripts.cli tui FLAGS`` from this interpreter,
so the same venv), and relays its screen and keys over a websocket. The app reads and writes files on
the server, so by default the server listens on the loopback address only, and any other address needs
an access token (given with ``--token`` or generated and printed with the URL); see ``web_access``.
"""

from __future__ import annotations

import argparse
import sys

from . import tui_cmd

HELP = "serve the app to web browsers, one app per tab (this machine only, unless --host and a token)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; any other "
                             "address, e.g. 0.0.0.0, requires the access token)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000; 0 picks a free one)")
    parser.add_argument("--token", nargs="?", const="", default=None,
                        help="access token every request must carry (?token=TOKEN on the URL); with no value, or "
                             "when --host is not the loopback and no token is given, one is generated and printed")
    tui_cmd.add_arguments(parser.add_argument_group("app flags (as for `tweetsmith tui`)"))


def app_argv(args: argparse.Namespace) -> list[str]:
    """The ``tweetsmith tui`` flags set in ``args``, back as an argv: the flags are tui_cmd's, not a copy."""
    scratch = argparse.ArgumentParser(add_help=False)
    tui_cmd.add_arguments(scratch)
    argv: list[str] = []
    for action in scratch._actions:
        value = getattr(args, action.dest, action.default)
        if not action.option_strings or value == action.default:
            continue
        if isinstance(action, argparse.BooleanOptionalAction):
            argv.append(action.option_strings[0 if value else 1])
        elif action.nargs == 0:  # store_true / store_false / store_const
            argv.append(action.option_strings[0])
        else:
            argv.append(action.option_strings[0])
            if isinstance(value, list):
                argv.extend(str(v) for v in value)
            else:
                argv.append(str(value))
    return argv


def run(args: argparse.Namespace) -> int:
    import secrets
    import shlex

    from .web_server import ServeError, TweetsmithServer, bind, is_loopback

    try:
        sock = bind(args.host, args.port)
    except ServeError as err:
        print(f"tweetsmith: error: {err}", file=sys.stderr)
        return 2
    token = args.token or None
    if args.token == "" or (token is None and not is_loopback(sock)):
        token = secrets.token_urlsafe(24)
    # exec: the shell becomes the app, so the server's quit and signals reach it directly.
    command = "exec " + shlex.join([sys.executable, "-m", "tweetsmith.scripts.cli", "tui", *app_argv(args)])
    TweetsmithServer(command, sock, token=token).serve()
    return 0
