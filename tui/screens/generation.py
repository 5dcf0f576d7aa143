"""Generation for the chat screen: stream samples in a thread worker, flush text to the cards every ~50 ms.

A mixin of ``MainScreen`` (which owns the cards, the session and the sampling config). One request is
``n`` samples (seeds ``seed .. seed+n-1``) for one side, or ``n`` base/tuned pairs for ``/ab``; Esc sets
the request's cancel event, which the engine checks every token, and cancels the worker group.

Seeds: each request draws a fresh seed (``engine.sampling.fresh_seed``) unless ``/seed N`` pinned one, so
Enter twice gives two tweets; the card shows the seed it used, and ``/seed N`` or ``tweetsmith sample
--seed N`` gives that tweet again. Torch's thread count is never changed for the process: while a
training runs, each sample's own generation thread gets one thread (``stream_sample(num_threads=1)``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from textual import work
from textual.worker import get_current_worker

from tweetsmith.engine.sampling import SamplingConfig, fresh_seed

from .. import messages as msg
from ..commands import Prompt
from ..session import ChatEntry, entry_from_sample
from ..widgets.message_card import ABPair, MessageCard

FLUSH_S = 0.05  # streamed text reaches the card at most every 50 ms: one message per flush, not per token


@dataclass(frozen=True)
class Job:
    card_id: str
    side: str
    index: int  # sample i of the request: seed + i (the two cards of an /ab pair share it)
    column: int = 0
    pair_id: str | None = None



class GenerationMixin:
    """Streaming into message cards. Needs ``self.cards``, ``self.chat``, ``self.session``, ``self.sampling``."""

    _counter: int
    _cancel: threading.Event | None
    _last_prompt: Prompt | None
    _pending_ab: Prompt | None
    seed_auto: bool  # True: a fresh seed per request; False: ``sampling.seed`` pinned by /seed N

    def _next_id(self) -> str:
        self._counter += 1
        return f"card-{self._counter}"

    def start_ab(self, prompt: Prompt) -> None:
        models = self.app.models
        missing = [side for side in ("base", "tuned") if side not in models]
        if "tuned" in missing and not self.app.has_tuned:
            self.show_error("/ab needs a tuned model: train one (ctrl+t) or open a run (/run RUN)")
            return
        if missing:
            self._pending_ab = prompt
            self.notify(f"loading the {missing[0]} model for /ab…")
            self.app.load_side(missing[0], activate=False)
            return
        self.start_generation(prompt, ["base", "tuned"])

    def start_generation(self, prompt: Prompt, sides: list[str]) -> None:
        models = {side: self.app.models.get(side) for side in sides}
        if any(m is None for m in models.values()):
            self.show_error("the model is still loading; try again in a moment")
            return
        self.stop_generation(quiet=True)
        self._last_prompt = prompt
        self.current_author = prompt.author
        jobs: list[Job] = []
        for i in range(self.sampling.num_samples):
            if len(sides) == 1:
                jobs.append(Job(self._next_id(), sides[0], i))
            else:
                pair = f"pair-{self._counter + 1}"
                jobs += [Job(self._next_id(), side, i, column, pair) for column, side in enumerate(sides)]
        self._cancel = self.app.track(threading.Event())
        self.streaming = True
        seed = fresh_seed() if self.seed_auto else self.sampling.seed
        self.generate(prompt, jobs, self.sampling.with_changes(seed=seed), models, self._cancel,
                      1 if self.app.training_running else None)

    def stop_generation(self, quiet: bool = False) -> None:
        if self._cancel is not None:
            self._cancel.set()
        self.workers.cancel_group(self, "generate")
        if not quiet and self.streaming:
            self.notify("stopped", timeout=2)

    @work(thread=True, exclusive=True, exit_on_error=False, group="generate")
    def generate(self, prompt: Prompt, jobs: list[Job], config: SamplingConfig, models: dict[str, Any],
                 cancel: threading.Event, num_threads: int | None = None) -> None:
        """Stream each job's sample, posting the text every ~50 ms; a failure keeps what came.

        ``num_threads``: torch threads of each sample's generation thread alone (1 while training runs,
        so the two do not fight over the cores); None leaves torch's setting alone.
        """
        from tweetsmith.engine.generate import stream_sample

        worker = get_current_worker()
        for job in jobs:
            if cancel.is_set() or worker.is_cancelled:
                break
            self.post_message(msg.SampleStarted(job.card_id, prompt.author, prompt.text, job.side, job.column, job.pair_id))
            received: list[str] = []
            pending: list[str] = []
            last = time.perf_counter()
            job_config = config.with_changes(seed=config.seed + job.index, num_samples=1)
            try:
                stream = stream_sample(models[job.side], prompt.author, prompt.text, job_config, cancel=cancel,
                                       num_threads=num_threads)
                for piece in stream:
                    received.append(piece)
                    pending.append(piece)
                    now = time.perf_counter()
                    if now - last >= FLUSH_S:
                        self.post_message(msg.TokensArrived(job.card_id, "".join(pending)))
                        pending, last = [], now
                if pending:
                    self.post_message(msg.TokensArrived(job.card_id, "".join(pending)))
                self.post_message(msg.SampleFinished(job.card_id, stream.sample, job.side))
            except Exception as err:  # noqa: BLE001 - the card keeps the text that came and says why
                from ..app import _error_text

                if pending:
                    self.post_message(msg.TokensArrived(job.card_id, "".join(pending)))
                self.post_message(msg.SampleFailed(job.card_id, _error_text(err), "".join(received),
                                                   prompt.author, prompt.text, job.side, job_config))
                break
        self.post_message(msg.GenerationEnded(stopped=cancel.is_set(), cancel=cancel))

    async def on_sample_started(self, message: msg.SampleStarted) -> None:
        card = MessageCard(message.author, message.prompt_text, message.side, id=message.card_id,
                           show_side=message.pair_id is not None or self.app.has_tuned)
        self.cards[message.card_id] = card
        if message.pair_id is None:
            await self.chat.add(card)
            return
        pairs = self.chat.query(f"#{message.pair_id}")
        if pairs:
            await pairs.first().mount(card)
        else:
            pair = ABPair(id=message.pair_id)
            await self.chat.add(pair)
            await pair.mount(card)
        self.chat.follow()

    def on_tokens_arrived(self, message: msg.TokensArrived) -> None:
        card = self.cards.get(message.card_id)
        if card is not None:
            card.append(message.text)
            self.chat.follow()

    def on_sample_finished(self, message: msg.SampleFinished) -> None:
        entry = entry_from_sample(message.sample, side=message.side)
        card = self.cards.get(message.card_id)
        if card is not None:
            card.finish(entry)
        self.chat.follow()
        self._save_entry(entry)

    def on_sample_failed(self, message: msg.SampleFailed) -> None:
        card = self.cards.get(message.card_id)
        if card is not None:
            card.fail(message.error)
        self.notify(message.error, title="Generation failed", severity="error", timeout=10)
        if message.partial:
            self._save_entry(ChatEntry(author=message.author, prompt_text=message.prompt_text, text=message.partial,
                                       side=message.side, params=message.config.to_dict(), seed=message.config.seed,
                                       stopped=True, error=message.error, created=time.strftime("%Y-%m-%dT%H:%M:%S")))

    def on_generation_ended(self, message: msg.GenerationEnded) -> None:
        if message.cancel is self._cancel:  # not a request that a newer one replaced
            self.streaming = False

    def _save_entry(self, entry: ChatEntry) -> None:
        try:
            self.session.add(entry)
        except OSError as err:
            self.notify(f"could not save the session to {self.session.path}: {err}", severity="warning")
        self.update_diversity()
