"""The chat's generation worker's work: a request's samples streamed one after another, each into its card.

One request is ``n`` samples (seeds ``seed .. seed+n-1``) for one side, or ``n`` base/tuned pairs for
``/ab``: a ``Job`` per card. The text is posted every ~50 ms (``FLUSH_S``), not one message per token, and
it only posts messages (``tui.messages``) through ``post``; the chat log that runs it shows them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import messages as msg
from .errors import error_text

if TYPE_CHECKING:
    from textual.message import Message

    from tweetsmith.engine.models import LoadedModel
    from tweetsmith.engine.sampling import SamplingConfig
    from tweetsmith.engine.sides import Side

    from .commands import Prompt

FLUSH_S = 0.05  # streamed text reaches the card at most every 50 ms: one message per flush, not per token


@dataclass(frozen=True)
class Job:
    card_id: str
    side: Side
    index: int  # sample i of the request: seed + i (the two cards of an /ab pair share it)
    column: int = 0
    pair_id: str | None = None


def stream_jobs(
    post: Callable[[Message], object],
    prompt: Prompt,
    jobs: list[Job],
    config: SamplingConfig,
    models: Mapping[Side, LoadedModel],
    cancel: threading.Event,
    num_threads: int | None,
    cancelled: Callable[[], bool],
) -> None:
    """Stream each job's sample in this (worker) thread until ``cancel`` is set or ``cancelled()`` says the
    worker was; a failure keeps the text that came and ends the request.

    ``num_threads``: torch threads of each sample's generation thread alone (1 while training runs,
    so the two do not fight over the cores); None leaves torch's setting alone.
    """
    from tweetsmith.engine.generate import stream_sample

    for job in jobs:
        if cancel.is_set() or cancelled():
            break
        post(msg.SampleStarted(job.card_id, prompt.author, prompt.text, job.side, job.column, job.pair_id))
        received: list[str] = []
        pending: list[str] = []
        last = time.perf_counter()
        job_config = config.with_changes(seed=config.seed + job.index, num_samples=1)
        try:
            stream = stream_sample(
                models[job.side], prompt.author, prompt.text, job_config, cancel=cancel, num_threads=num_threads
            )
            for piece in stream:
                received.append(piece)
                pending.append(piece)
                now = time.perf_counter()
                if now - last >= FLUSH_S:
                    post(msg.TokensArrived(job.card_id, "".join(pending)))
                    pending, last = [], now
            if pending:
                post(msg.TokensArrived(job.card_id, "".join(pending)))
            post(msg.SampleFinished(job.card_id, stream.sample, job.side))
        except Exception as err:  # noqa: BLE001 - the card keeps the text that came and says why
            if pending:
                post(msg.TokensArrived(job.card_id, "".join(pending)))
            failed = msg.SampleFailed(
                job.card_id, error_text(err), "".join(received), prompt.author, prompt.text, job.side, job_config
            )
            post(failed)
            break
    post(msg.GenerationEnded(stopped=cancel.is_set(), cancel=cancel))
