"""`tweetsmith assignment SOURCE... --out DIR`: the whole assignment, from raw input to DIR/report.md.

Flags are prepare's and train's (the split seed is ``--split-seed``: ``--seed`` is training's), plus
``--samples`` and the sampling settings. One progress line: the stage, its progress, its ETA and the
overall ETA. Ctrl-C stops (training keeps a checkpoint) and exits 130; the same command resumes, and
so does one after a SIGKILL. The per-stage wall times are printed at the end and kept in the report.
"""

from __future__ import annotations

import argparse
import signal
import threading

from .common import StageLine, notice

HELP = (
    "the whole assignment in one resumable command: prepare -> perplexity before -> train -> perplexity "
    "after -> compare -> sweeps -> DIR/report.md"
)
EXIT_STOPPED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tweetsmith.data.prepare import PrepareConfig
    from tweetsmith.engine.ablation import ABLATION_STEPS
    from tweetsmith.engine.generate import DEFAULT_BATCH_SIZE
    from tweetsmith.engine.sampling import SamplingConfig
    from tweetsmith.engine.train import TrainConfig
    from tweetsmith.engine.train_config import EVAL_TOKENS_CPU

    from .common import add_config_arguments

    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="SOURCE",
        help="raw input: a Twitter archive's tweets.js, CSV/TSV, JSON Lines, line files or plain text",
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="where data/, run/, assignment.json and report.md go"
    )
    parser.add_argument("--samples", type=int, default=100, help="samples per model and per sweep point (default: 100)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object at the end: the report, the run "
        "and each stage's wall time and whether it was cached (as in assignment.json)",
    )
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the train/valid/test split (default: 0)")
    parser.add_argument(
        "--sample-batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"samples generated together (default: {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--eval-tokens",
        type=int,
        default=None,
        metavar="N",
        help=f"perplexity before/after (and training's evaluations, with --eval-every) scores each split's leading "
        f"records within N tokens (default: whole splits on a GPU, {EVAL_TOKENS_CPU:,} tokens on a CPU; 0: whole splits)",
    )
    parser.add_argument(
        "--ablation",
        type=int,
        nargs="?",
        const=ABLATION_STEPS,
        default=0,
        metavar="STEPS",
        help=f"also train short runs of STEPS steps (default {ABLATION_STEPS}) changing one flag each "
        "(--pack isolated and off, full vs LoRA, lr x0.5 and x2) and table their valid perplexity and tokens/s",
    )
    add_config_arguments(parser, PrepareConfig, exclude=("inputs", "out", "seed", "force"))
    # The "perplexity after" stage measures the tuned model on valid and test: an evaluation at the end of
    # training would score the valid split a second time (14 of the 56 minutes of the default CPU epoch).
    # Training's --eval-tokens is the assignment's own (above): one cap for every score of a split.
    add_config_arguments(
        parser, TrainConfig, exclude=("data", "out", "resume", "eval_tokens"), defaults={"eval_every": 0}
    )
    add_config_arguments(parser, SamplingConfig, exclude=("num_samples", "seed"))


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from tweetsmith.data.prepare import PrepareConfig
    from tweetsmith.engine.assignment import AssignmentConfig, TrainingStopped, run_assignment
    from tweetsmith.engine.assignment_progress import stage_table
    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.experiments import Cancelled
    from tweetsmith.engine.sampling import SamplingConfig
    from tweetsmith.engine.train import TrainConfig, validate

    from .common import config_from_args, install_stop_handler
    from .prepare_cmd import notice_resplit

    if args.samples < 2:
        raise ConfigError(f"--samples must be 2 or more (self-BLEU needs two samples), got {args.samples}")
    if args.sample_batch_size < 1:
        raise ConfigError(f"--sample-batch-size must be 1 or more, got {args.sample_batch_size}")
    if args.eval_tokens is not None and args.eval_tokens < 0:
        raise ConfigError(f"--eval-tokens must be 0 (whole splits) or more, got {args.eval_tokens}")
    if args.ablation < 0:
        raise ConfigError(f"--ablation STEPS must be 1 or more, got {args.ablation}")
    prepare = config_from_args(PrepareConfig, args, inputs=tuple(args.inputs), out=args.out, seed=args.split_seed)
    notice_resplit(prepare)
    train = config_from_args(TrainConfig, args, eval_tokens=args.eval_tokens)  # run_assignment resolves None
    validate(train)
    sampling = dataclasses.replace(config_from_args(SamplingConfig, args), seed=0).validated()
    config = AssignmentConfig(
        out=args.out,
        prepare=prepare,
        train=train,
        samples=args.samples,
        batch_size=args.sample_batch_size,
        sampling=sampling,
        eval_tokens=args.eval_tokens,
        ablation_steps=args.ablation,
    )
    cancel = threading.Event()
    previous = install_stop_handler(
        cancel, "stopping at the next safe point (Ctrl-C again to abort); the same command resumes"
    )
    line = PipelineLine()
    try:
        result = run_assignment(config, on_progress=line, cancel=cancel, on_notice=line.notice)
    except (Cancelled, TrainingStopped) as err:
        line.close()
        notice(f"stopped ({err}); run the same command again to continue where it stopped")
        return EXIT_STOPPED
    finally:
        line.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if args.json:
        import json

        stages = [{"stage": s.stage, "seconds": s.seconds, "cached": s.cached} for s in result.stages]
        print(json.dumps({"report": str(result.report), "run": str(result.run_dir), "stages": stages}, indent=2))
        return 0
    print(stage_table(result.stages))
    print(result.report)
    return 0


class PipelineLine(StageLine):
    """``[5/9 compare] [####....] 40% tuned samples · 40/100 samples · stage 1m10s · all ≈ 12m`` on stderr
    (``all ≥``: some later stage has no estimate yet)."""

    def notice(self, message: str) -> None:
        """A notice on a line of its own; the progress line goes on below it."""
        self.close()
        notice(message)

    def __call__(self, event) -> None:
        self.show(
            event.stage, f"[{event.number}/{event.stages} {event.stage}]", event.done, event.total, event.summary()
        )
