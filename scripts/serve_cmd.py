"""`tweetsmith serve`: the app in a web browser, for machines where only a forwarded port can be shown.

Hosted notebook GPUs show no terminal app, but they forward ports. textual-serve runs the same app,
unchanged, once per browser tab (``python -m tweetsmith.scripts.cli tui FLAGS`` from this interpreter,
so the same venv), and relays its screen and keys over a websocket. The app reads and writes files as
the server's user, so every door is shut by default:

- a token on every address, the loopback included (other users of the machine reach the loopback too):
  generated unless ``--token T``; ``--no-token`` only on the loopback (see ``web_access``);
- one root: each app gets ``--root`` (default: the directory serve was started in) and refuses every path
  typed in it that leads outside (``tui.root``);
- a cap on tabs, each an app with its own model (``--max-sessions``; see ``web_sessions``);
- https with ``--certfile/--keyfile``; off the loopback without them, the first line printed says that
  the token travels in clear text.
"""

from __future__ import annotations

import argparse
import sys

from . import tui_cmd

HELP = "serve the app to web browsers, one app per tab (a token on every address; files only under --root)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: every interface)",
    )
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000; 0 picks a free one)")
    parser.add_argument(
        "--token",
        nargs="?",
        const="",
        default=None,
        help="access token every request must carry (?token=TOKEN on the URL); default: one is "
        "generated and printed with the URL",
    )
    parser.add_argument(
        "--no-token",
        action="store_true",
        help="no token, on the loopback address only: every user and process of this machine can then use the app",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=None,
        metavar="N",
        help="most browser tabs at once, each an app with its own model (default: what the available "
        "memory holds, at least 1)",
    )
    parser.add_argument("--certfile", default=None, help="PEM certificate: serve https (with --keyfile)")
    parser.add_argument("--keyfile", default=None, help="PEM private key of --certfile")
    tui_cmd.add_arguments(
        parser.add_argument_group(
            "app flags (as for `tweetsmith tui`; --root defaults to the directory serve is started in)"
        )
    )


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


def _error(message: str) -> int:
    print(f"tweetsmith: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    import os
    import secrets
    import shlex

    from tweetsmith.engine.memory import gib

    from .web_server import ServeError, TweetsmithServer, bind, is_loopback, tls_context
    from .web_sessions import session_cap

    if args.no_token and args.token:
        return _error("--no-token and --token contradict each other: give one of them")
    if (args.certfile is None) != (args.keyfile is None):
        return _error("--certfile and --keyfile go together: give both (a PEM certificate and its private key)")
    if args.max_sessions is not None and args.max_sessions < 1:
        return _error(f"--max-sessions {args.max_sessions}: give 1 or more")
    root = os.path.realpath(os.path.expanduser(args.root or "."))
    if not os.path.isdir(root):
        return _error(
            f"--root {args.root}: no such directory; give an existing directory (the apps read and write only under it)"
        )
    args.root = root  # always passed on: the served apps never run without one
    try:
        context = tls_context(args.certfile, args.keyfile) if args.certfile else None
        sock = bind(args.host, args.port)
    except ServeError as err:
        return _error(str(err))
    loopback = is_loopback(sock)
    if args.no_token and not loopback:
        sock.close()
        return _error(
            f"--no-token is for the loopback address only, not --host {args.host}: drop --no-token (the "
            "token then guards the app), or serve on 127.0.0.1 and forward the port with ssh -L"
        )
    token = None if args.no_token else args.token or secrets.token_urlsafe(24)
    cap = session_cap(args.max_sessions, args.model, args.run_dir)

    warning = None
    if not loopback and context is None:
        warning = (
            f"warning: plain http on {args.host}: the token travels in clear text to anyone on the network "
            "path; reach a 127.0.0.1 server with ssh -L instead, or serve https with --certfile/--keyfile"
        )
    guard = (
        "only requests carrying the token get in"
        if token
        else "no token (--no-token): every user and process on this machine can use the app through this port"
    )
    sized = (
        f"each app with {cap.model} takes ~{gib(cap.app_bytes)} of {gib(cap.available_bytes)} available"
        if cap.app_bytes and cap.available_bytes
        else "--max-sessions"
    )
    notes = (
        f"each browser tab runs its own app, at most {cap.sessions} at once ({sized}); {guard}",
        f"the apps read and write files only under {root} (--root); Ctrl+C stops",
    )
    # exec: the shell becomes the app, so the server's quit and signals reach it directly.
    command = "exec " + shlex.join([sys.executable, "-m", "tweetsmith.scripts.cli", "tui", *app_argv(args)])
    TweetsmithServer(
        command, sock, token=token, max_sessions=cap.sessions, ssl_context=context, warning=warning, notes=notes
    ).serve()
    return 0
