"""The scrolling chat: it runs the streams of a request and shows them as message cards, keeps the session
they are saved in, and checks each finished sample (copied from a training tweet? how surprised was the
model by each token?). It follows new text unless the user has scrolled up.

Streams: one request is ``n`` samples (seeds ``seed .. seed+n-1``) for one side, or ``n`` base/tuned
pairs for ``/ab``, generated one after another in a thread worker that posts the text every ~50 ms
(``tui.streaming``); ``stop`` sets the request's cancel event, which the engine checks every token, and
cancels the worker group. While a training runs, each sample's own generation thread gets one torch
thread (``stream_sample(num_threads=1)``); torch's count for the process is never changed.

The messages the workers post come here first; they bubble on to the screen, which updates what depends
on the whole session (the diversity panel) and says what failed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import get_current_worker

from tweetsmith.data.split import SplitDir

from .. import messages as msg
from ..errors import error_text
from ..memo import Memo
from ..session import ChatEntry, Session, entry_from_failure, entry_from_sample
from ..streaming import Job, stream_jobs
from .card_keys import CardKeys, ChatRequest
from .insight_cards import ScoreCard, SourceCard
from .message_card import ABPair, MessageCard

if TYPE_CHECKING:
    from tweetsmith.engine.memorisation import MemorisationIndex
    from tweetsmith.engine.models import LoadedModel
    from tweetsmith.engine.sampling import SamplingConfig
    from tweetsmith.engine.sides import Side

    from ..commands import Prompt
    from ..workspace import WorkspaceOwner

MAX_REOPENED_CARDS = 200  # a long session reopens with its latest cards; the file keeps them all


def _index_for(data_dir: Path) -> MemorisationIndex:
    from tweetsmith.engine.memorisation import index_for_data

    return index_for_data(data_dir)  # built once per training file and cached on disk by the engine


class ChatLog(CardKeys, VerticalScroll, can_focus=True):
    """Cards in order. Focusable, so arrows scroll it and the sampling keys act while it has focus; the card
    keys (``card_keys``) act while it or one of its cards has focus."""

    HINT = (
        "Type a username and press Enter to stream a tweet in their voice (Tab completes names);\n"
        "add text after a colon to continue it: paulg: The best startups\n"
        "Esc leaves the input; then t/T k/K p/P n/N change the sampling at once. F1 lists everything."
    )

    def __init__(self, owner: WorkspaceOwner, **kwargs) -> None:
        super().__init__(**kwargs)
        self.owner = owner
        self.session = Session(None)
        self.cards: dict[str, MessageCard] = {}
        self.cancel: threading.Event | None = None  # the running request's
        self.streaming = False  # a request streams, or waits for its model
        self.waiting: tuple[ChatRequest, list[Job]] | None = None  # typed before its model loaded
        self.surprisal_on = False
        self._counter = 0
        self._index: Memo[Path, MemorisationIndex] = Memo(_index_for)

    # --- layout -----------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.show_hint()

    def show_hint(self) -> None:
        if self.is_attached and not self.query(".chat-hint"):
            self.mount(Static(self.HINT, classes="chat-hint", markup=False))

    async def add(self, widget: Widget, before: Widget | None = None) -> None:
        # Not attached: the app is leaving (a signal may arrive while a session is being shown), and a
        # mount then raises.
        if not self.is_attached:
            return
        follow = self.is_vertical_scroll_end or self.max_scroll_y == 0
        for hint in self.query(".chat-hint"):
            await hint.remove()
        await self.mount(widget, before=before)
        if follow:
            self.scroll_end(animate=False, immediate=False)

    def follow(self) -> None:
        """Keep the newest text in view while streaming (only if the user hasn't scrolled up)."""
        if self.max_scroll_y - self.scroll_y <= 3:
            self.scroll_end(animate=False, immediate=False)

    async def clear(self, keep: list[MessageCard] | None = None) -> None:
        """Remove every card, except those in ``keep``."""
        keep = keep or []
        self.cards = {card_id: card for card_id, card in self.cards.items() if card in keep}
        if self.is_attached:
            await self.remove_children([child for child in self.children if child not in keep])
        if not keep:
            self.show_hint()

    # --- the session --------------------------------------------------------------------------------

    def open_session(self, path: Path) -> None:
        """Show the session saved in ``path`` (the workspace's ``session_path``), unless it is shown."""
        if path == self.session.path:
            return
        self.session = Session(path)
        self.call_later(self._show_entries, self.session.load())
        if self.session.torn:
            self.app.notify(self.session.torn, severity="warning")

    async def _show_entries(self, entries: list[ChatEntry]) -> None:
        # A request typed before the model (and so its session) was in stays, after the reopened cards.
        live = [c for c in self.children if isinstance(c, MessageCard) and (c.waiting or c.streaming)]
        await self.clear(keep=live)
        shown = entries[-MAX_REOPENED_CARDS:]
        show_side = self.owner.workspace.has_tuned
        for entry in shown:
            await self.add(MessageCard.from_entry(entry, show_side=show_side), before=live[0] if live else None)
        if entries and self.session.path is not None and self.is_attached:
            hidden = f" (the latest {len(shown)} shown)" if len(shown) < len(entries) else ""
            note = f"reopened {len(entries)} samples from {self.session.path.name}{hidden}"
            await self.mount(Static(note, classes="session-note", markup=False), before=0)
            self.scroll_end(animate=False)
        self.post_message(msg.SessionShown(len(entries)))

    def clear_session(self) -> Path | None:
        """Empty the chat; the saved session is archived beside it. Returns the archive."""
        archived = self.session.clear()
        self.call_later(self.clear)
        return archived

    def _save(self, entry: ChatEntry) -> None:
        try:
            self.session.add(entry)
        except OSError as err:
            self.notify(f"could not save the session to {self.session.path}: {err}", severity="warning")

    # --- streams ------------------------------------------------------------------------------------

    def stream(
        self,
        prompt: Prompt,
        sides: list[Side],
        config: SamplingConfig,
        models: Mapping[Side, LoadedModel],
        jobs: list[Job] | None = None,
    ) -> None:
        """Generate ``config.num_samples`` samples (pairs, with two sides) with seeds ``config.seed + i``,
        replacing a request still streaming (or waiting)."""
        self.stop()
        jobs = jobs or self._jobs(sides, config.num_samples)
        self.last_request = ChatRequest(prompt, tuple(sides), config)
        self.cancel = self.owner.cancels.track(threading.Event())
        self.streaming = True
        self._generate(prompt, jobs, config, models, self.cancel, 1 if self.owner.workspace.training_running else None)

    def _jobs(self, sides: list[Side], num_samples: int) -> list[Job]:
        jobs: list[Job] = []
        for i in range(num_samples):
            if len(sides) == 1:
                jobs.append(Job(self._next_id(), sides[0], i))
            else:
                pair = f"pair-{self._counter + 1}"
                jobs += [Job(self._next_id(), side, i, column, pair) for column, side in enumerate(sides)]
        return jobs

    def hold(self, prompt: Prompt, sides: list[Side], config: SamplingConfig) -> None:
        """A request that came before a model it needs: its first card shows it at once, waiting, and
        ``release`` streams it when the models are in (the typed text is never lost)."""
        self.stop()
        jobs = self._jobs(sides, config.num_samples)
        self.last_request = ChatRequest(prompt, tuple(sides), config)
        self.waiting = self.last_request, jobs
        self.streaming = True
        card = MessageCard(
            prompt.author, prompt.text, sides[0], id=jobs[0].card_id, show_side=self.owner.workspace.has_tuned
        )
        card.wait()
        self.cards[jobs[0].card_id] = card
        self.call_later(self.add, card)

    def release(self, models: Mapping[Side, LoadedModel]) -> None:
        """Stream the waiting request once every model it needs is in ``models``."""
        if self.waiting is None or any(side not in models for side in self.waiting[0].sides):
            return
        (request, jobs), self.waiting = self.waiting, None
        self.stream(request.prompt, list(request.sides), request.config, {s: models[s] for s in request.sides}, jobs)

    def stop(self) -> None:
        if self.waiting is not None:
            card = self.cards.get(self.waiting[1][0].card_id)
            self.waiting, self.streaming = None, False
            if card is not None:
                card.drop("not sent: stopped before the model loaded")
        if self.cancel is not None:
            self.cancel.set()
        self.workers.cancel_group(self, "generate")

    def _next_id(self) -> str:
        self._counter += 1
        return f"card-{self._counter}"

    @work(thread=True, exclusive=True, exit_on_error=False, group="generate")
    def _generate(
        self,
        prompt: Prompt,
        jobs: list[Job],
        config: SamplingConfig,
        models: Mapping[Side, LoadedModel],
        cancel: threading.Event,
        num_threads: int | None,
    ) -> None:
        """The request's samples, streamed in this worker (``tui.streaming``)."""
        worker = get_current_worker()
        stream_jobs(self.post_message, prompt, jobs, config, models, cancel, num_threads, lambda: worker.is_cancelled)

    async def on_sample_started(self, message: msg.SampleStarted) -> None:
        if not self.is_attached:  # leaving
            return
        waited = self.cards.get(message.card_id)
        if waited is not None and waited.waiting:  # the card that showed the request while its model loaded
            waited.begin()
            if message.pair_id is None:
                return
            await waited.remove()  # an /ab pair's cards stand side by side: the pair is built below
        card = MessageCard(
            message.author,
            message.prompt_text,
            message.side,
            id=message.card_id,
            show_side=message.pair_id is not None or self.owner.workspace.has_tuned,
        )
        self.cards[message.card_id] = card
        if message.pair_id is None:
            await self.add(card)
            return
        pairs = self.query(f"#{message.pair_id}")
        if pairs:
            await pairs.first().mount(card)
        else:
            pair = ABPair(id=message.pair_id)
            await self.add(pair)
            await pair.mount(card)
        self.follow()

    def on_tokens_arrived(self, message: msg.TokensArrived) -> None:
        card = self.cards.get(message.card_id)
        if card is not None:
            card.append(message.text)
            self.follow()

    def on_sample_finished(self, message: msg.SampleFinished) -> None:
        entry = entry_from_sample(message.sample, side=message.side)
        card = self.cards.get(message.card_id)
        if card is not None:
            card.finish(entry)
            self._check(card)
        self.follow()
        self._save(entry)

    def on_sample_failed(self, message: msg.SampleFailed) -> None:
        card = self.cards.get(message.card_id)
        if card is not None:
            card.fail(message.error)
        if message.partial:
            m = message
            self._save(
                entry_from_failure(m.author, m.prompt_text, m.partial, side=m.side, config=m.config, error=m.error)
            )

    def on_generation_ended(self, message: msg.GenerationEnded) -> None:
        if message.cancel is self.cancel:  # not a request that a newer one replaced
            self.streaming = False

    # --- memorisation: is a finished sample copied from a training tweet? ----------------------------

    def _check(self, card: MessageCard) -> None:
        """A finished card: is it copied from a training tweet, and which of its tokens surprised its model
        most (its footer; also its colours while they are on)?"""
        data_dir = self.owner.workspace.data_dir
        if data_dir is not None and SplitDir(data_dir).train.is_file():
            self._match(card.id or "", card.body_text, Path(data_dir))
        self._score_cards([card], card.side)
        if self.surprisal_on and card.side != self.owner.workspace.side:
            self._score_cards([card])

    @work(thread=True, exit_on_error=False, group="memorisation")
    def _match(self, card_id: str, text: str, data_dir: Path) -> None:
        try:
            match = self._index.get(data_dir).match(text)
        except Exception as err:  # noqa: BLE001 - the chat goes on without the mark
            self.post_message(msg.InsightFailed("memorisation", error_text(err)))
            return
        self.post_message(msg.SampleMatched(card_id, text, match))

    def on_sample_matched(self, message: msg.SampleMatched) -> None:
        card = self.cards.get(message.card_id)
        if card is not None:
            card.mark_match(message.match, message.text)

    def show_source(self) -> str | None:
        """Add the training tweet the latest copied sample (else the latest checked one) shares its longest
        span with; returns why not when there is none."""
        checked = [(c.author, c.match) for c in self.cards.values() if c.match is not None]
        if not checked:
            pending = any(c.entry is not None for c in self.cards.values())
            if pending and self.owner.workspace.data_dir:
                return "still checking the last sample against the training tweets…"
            return "no sample checked against the training tweets yet (that needs a data directory)"
        found = next((c for c in reversed(checked) if c[1].copied), None) or next(
            (c for c in reversed(checked) if c[1].record is not None), None
        )
        if found is None:
            return "no sample of this chat shares a word with any training tweet"
        self.call_later(self.add, SourceCard(*found))
        return None

    # --- surprisal: each token coloured by how surprised the chat's model was ---------------------------

    def toggle_surprisal(self) -> bool:
        """Colours on (scoring every finished card) or off; returns whether they are on now."""
        self.surprisal_on = not self.surprisal_on
        if self.surprisal_on:
            self._score_cards([c for c in self.cards.values() if c.entry is not None])
        else:
            for card in self.cards.values():
                card.show_surprisal(None)
        return self.surprisal_on

    def rescore(self) -> None:
        """The chat switched models: re-colour under the new side."""
        if self.surprisal_on:
            self._score_cards([c for c in self.cards.values() if c.entry is not None])

    def _score_cards(self, cards: list[MessageCard], side: Side | None = None) -> None:
        """Score the cards' texts under ``side``'s model (default: the chat's) in a worker."""
        side = side or self.owner.workspace.side
        loaded = self.owner.workspace.models.get(side)
        if loaded is None or not cards:
            return
        self._score_worker([(card.id or "", card.author, card.body_text) for card in cards], loaded, side)

    @work(thread=True, exit_on_error=False, group="surprisal")
    def _score_worker(self, items: list[tuple[str, str, str]], loaded: LoadedModel, side: Side) -> None:
        from tweetsmith.data.records import Record
        from tweetsmith.engine.surprisal import score_texts

        try:
            scores = score_texts(loaded, [Record(author, text) for _, author, text in items])
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.InsightFailed("surprisal", error_text(err)))
            return
        self.post_message(msg.SurprisalScored(side, {cid: (text, s) for (cid, _, text), s in zip(items, scores)}))

    def score(self, author: str, text: str) -> str | None:
        """``/score TEXT``: a card with ``text``'s tokens under each loaded side and what tuning changed most;
        returns why not when no model is loaded."""
        ws = self.owner.workspace
        models = {side: ws.models[side] for side in ("base", "tuned") if side in ws.models}
        if not models:
            return "the model is still loading; try again in a moment"
        missing = [side for side in ("base", "tuned") if side not in models and (side == "base" or ws.has_tuned)]
        self._score_text(author, text, models, missing)
        return None

    @work(thread=True, exit_on_error=False, group="score")
    def _score_text(self, author: str, text: str, models: dict[str, LoadedModel], missing: list[str]) -> None:
        from tweetsmith.data.records import Record
        from tweetsmith.engine.surprisal import disagreements, score_texts

        try:
            scores = {side: score_texts(loaded, [Record(author, text)])[0] for side, loaded in models.items()}
            changed = disagreements(scores["base"], scores["tuned"]) if {"base", "tuned"} <= set(scores) else []
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.InsightFailed("score", error_text(err)))
            return
        self.post_message(msg.TextScored(author, text, scores, changed, missing))

    async def on_text_scored(self, message: msg.TextScored) -> None:
        await self.add(ScoreCard(message.author, message.text, message.scores, message.disagreements, message.missing))

    def on_surprisal_scored(self, message: msg.SurprisalScored) -> None:
        """The footer names the most surprising token under the card's own model; the colours follow the
        chat's model while they are on (after a switch of sides that rescoring is under way)."""
        colours = self.surprisal_on and message.side == self.owner.workspace.side
        for card_id, (text, score) in message.scores.items():
            card = self.cards.get(card_id)
            if card is None or card.body_text != text:
                continue
            if card.side == message.side:
                card.show_most_surprising(score)
            if colours:
                card.show_surprisal(score)
