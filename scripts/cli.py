"""The headless command line: ``tweetsmith <command>``.

Thin by design: each command module parses its flags, calls the engine or data layer and prints.
Heavy imports (torch, transformers, textual) happen inside the command that needs them, so
``tweetsmith --help`` answers at once. User-facing errors become one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command name -> module with HELP, add_arguments(parser) and run(args) -> int
COMMANDS = {
    "tui": "tweetsmith.scripts.tui_cmd",
    "prepare": "tweetsmith.scripts.prepare_cmd",
    "train": "tweetsmith.scripts.train_cmd",
    "eval": "tweetsmith.scripts.eval_cmd",
    "sample": "tweetsmith.scripts.sample_cmd",
    "metrics": "tweetsmith.scripts.metrics_cmd",
    "compare": "tweetsmith.scripts.compare_cmd",
    "sweep": "tweetsmith.scripts.sweep_cmd",
    "report": "tweetsmith.scripts.report_cmd",
    "models": "tweetsmith.scripts.models_cmd",
    "setup": "tweetsmith.scripts.setup_cmd",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


def main(argv: list[str] | None = None) -> int:
    from tweetsmith.data.errors import DataError
    from tweetsmith.engine.errors import EngineError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["tui", *(argv or sys.argv[1:])])
    try:
        return int(args.run(args) or 0)
    except (DataError, EngineError) as err:
        print(f"tweetsmith: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tweetsmith: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
