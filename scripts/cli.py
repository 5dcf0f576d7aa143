"""The headless command line: ``tweetsmith <command>``.

Thin by design: each command module parses its flags, calls the engine or data layer and prints.
Heavy imports (torch, transformers, textual) happen inside the command that needs them, so
``tweetsmith --help`` answers at once. User-facing errors become one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

# command name -> module with HELP, add_arguments(parser) and run(args) -> int
COMMANDS = {
    "tui": "tweetsmith.scripts.tui_cmd",
    "serve": "tweetsmith.scripts.serve_cmd",
    "prepare": "tweetsmith.scripts.prepare_cmd",
    "train": "tweetsmith.scripts.train_cmd",
    "eval": "tweetsmith.scripts.eval_cmd",
    "sample": "tweetsmith.scripts.sample_cmd",
    "metrics": "tweetsmith.scripts.metrics_cmd",
    "compare": "tweetsmith.scripts.compare_cmd",
    "sweep": "tweetsmith.scripts.sweep_cmd",
    "voice": "tweetsmith.scripts.voice_cmd",
    "report": "tweetsmith.scripts.report_cmd",
    "assignment": "tweetsmith.scripts.assignment_cmd",
    "memorisation": "tweetsmith.scripts.memorisation_cmd",
    "score": "tweetsmith.scripts.score_cmd",
    "runs": "tweetsmith.scripts.runs_cmd",
    "models": "tweetsmith.scripts.models_cmd",
    "setup": "tweetsmith.scripts.setup_cmd",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors as one line (the problem, and where the flags are listed), exit 2: the
    whole usage block buried the line that mattered (``argument --lora-r: lora_r: 'abc' is not a whole number``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="tweetsmith",
        description="Fine-tune a language model on anyone's writing and watch it write in their voice. "
        "With no command, opens the app.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


# Every character str.splitlines() breaks at: an error that echoes a column name or a path from the
# user's file may hold one, and an error is one line.
_LINE_BREAKS: dict[str, str | int | None] = {
    c: c.encode("unicode_escape").decode("ascii") for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
}


def one_line(message: str) -> str:
    """``message`` with any line break inside it written as an escape (``\\n``), so it stays one line."""
    return message.translate(str.maketrans(_LINE_BREAKS))


def main(argv: list[str] | None = None) -> int:
    from tweetsmith.data.errors import TweetsmithError

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["tui", *argv]  # `tweetsmith --model X` opens the app, as `tweetsmith tui --model X` does
    parser = build_parser()
    args = parser.parse_args(argv)  # --help exits 0, a bad flag exits 2 with one line (OneLineParser)
    if args.command is None:
        args = parser.parse_args(["tui"])
    _print_engine_notices()
    try:
        return int(args.run(args) or 0)
    except TweetsmithError as err:  # the project's own errors (DataError, EngineError, ...): one line, exit 2
        print(f"tweetsmith: error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tweetsmith: interrupted", file=sys.stderr)
        return 130


def _print_engine_notices() -> None:
    """The engine's notices (a torn JSONL line left out, ...) as one plain line each on stderr."""
    import logging

    class ToStderr(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            print(f"tweetsmith: {record.getMessage()}", file=sys.stderr, flush=True)  # stderr as it is now

    log = logging.getLogger("tweetsmith.notices")
    if not any(type(h).__name__ == "ToStderr" for h in log.handlers):
        log.addHandler(ToStderr())
        log.propagate = False


if __name__ == "__main__":
    sys.exit(main())
