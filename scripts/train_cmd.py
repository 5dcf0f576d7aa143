"""`tweetsmith train`: fine-tune a model (full, LoRA or QLoRA) on a data dir, with a progress line and a summary.

The flags come from ``engine.train.TrainConfig``. Ctrl-C stops inside the running step (within about a
second), keeps a checkpoint of the last completed step and exits with 130 (a second Ctrl-C aborts at
once); ``--resume`` continues from it exactly. Progress: see ``train_progress``. The same
command runs with DDP under ``torchrun --nproc_per_node N``; only rank 0 prints.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading

from .common import add_config_arguments, config_from_args, install_stop_handler
from .train_progress import TrainProgress, format_duration  # noqa: F401 - format_duration is public here

HELP = "fine-tune a model on a data dir (full, --lora or --quantize 4bit QLoRA); Ctrl-C keeps a checkpoint"
EXIT_STOPPED = 130  # like a shell's exit status after SIGINT: the run did not finish, a checkpoint was kept


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tweetsmith.engine.train import TrainConfig

    add_config_arguments(parser, TrainConfig)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the outcome as one JSON object on stdout "
        "(steps, seconds, valid perplexity, final/ and the run directory); progress stays on stderr",
    )


def run(args: argparse.Namespace) -> int:
    from tweetsmith.engine.train import TrainConfig, train

    config = config_from_args(TrainConfig, args)
    main_process = os.environ.get("RANK", "0") == "0"
    printer = TrainProgress(merge=config.merge)
    cancel = threading.Event()
    previous = install_stop_handler(
        cancel,
        "stopping and saving a checkpoint of the last completed step (Ctrl-C again to abort)" if main_process else None,
    )
    try:
        finished = train(config, on_event=printer if main_process else None, cancel=cancel)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        printer.close()
    if main_process:
        printer.finish(finished)
        if args.json:
            import dataclasses
            import json

            print(json.dumps(dataclasses.asdict(finished), indent=2))
    return 0 if finished.outcome == "completed" else EXIT_STOPPED
