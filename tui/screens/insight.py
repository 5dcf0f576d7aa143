"""The chat screen's questions after fine-tuning: is it copying, which words surprised the model, is a
diversity difference real. A mixin of ``MainScreen``; every model or index call runs in a thread worker
that posts a message back.

- Memorisation: each finished sample is matched against the data's training split (the index is built
  once per training file and cached by the engine); a copied span is underlined in its card, and ``s`` or
  ``/source`` shows the training tweet the latest sample's longest shared span comes from.
- Surprisal: ``u`` colours every card's tokens by their surprisal under the model the chat uses (the
  legend sits in the side panel; switching sides re-colours); ``/score TEXT`` scores a typed line under
  base and tuned, whichever are loaded.
- Diversity: after each diversity update, 95% bootstrap intervals of the session's samples and the human
  band for as many test tweets (``APP_BAND_REPEATS`` sets, cached per count) go to the diversity panel.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from textual import work

from .. import messages as msg
from ..widgets.diversity_panel import DiversityPanel
from ..widgets.insight_cards import ScoreCard, SourceCard, SurprisalLegend

APP_BAND_REPEATS = 10  # fewer sets than the CLI's 20: the band is redrawn as the session grows


class InsightMixin:
    """Needs ``self.cards``, ``self.chat``, ``self.session``, ``self.current_author`` and ``show_error``."""

    surprisal_on: bool = False
    _index_lock = threading.Lock()  # one index build, however many samples finish meanwhile
    _pool_lock = threading.Lock()

    def _insight_state(self) -> dict:
        state = self.__dict__.get("_insight")
        if state is None:
            state = self.__dict__["_insight"] = {"index": None, "index_dir": None, "pool": None, "pool_dir": None,
                                                  "bands": {}, "samples": None}
        return state

    # --- memorisation -----------------------------------------------------------------------------

    # Handlers named for the message run for every class of the screen's MRO that defines one, so these
    # run after GenerationMixin's and MetricsMixin's own (``@on`` would not: a plain mixin's decorators
    # are not collected).
    def on_sample_finished(self, message: msg.SampleFinished) -> None:
        card = self.cards.get(message.card_id)
        if card is None:
            return
        data_dir = self.app.data_dir
        if data_dir is not None and (Path(data_dir) / "train.txt").is_file():
            self.match_sample(message.card_id, card.body_text, Path(data_dir))
        if self.surprisal_on:
            self.score_cards([card])

    def _index_for(self, data_dir: Path):
        from tweetsmith.engine.memorisation import index_for_data

        state = self._insight_state()
        with self._index_lock:
            if state["index_dir"] != data_dir:
                state["index"], state["index_dir"] = index_for_data(data_dir), data_dir
            return state["index"]

    @work(thread=True, exit_on_error=False, group="memorisation")
    def match_sample(self, card_id: str, text: str, data_dir: Path) -> None:
        from ..app import _error_text

        try:
            match = self._index_for(data_dir).match(text)
        except Exception as err:  # noqa: BLE001 - the chat goes on without the mark
            self.post_message(msg.InsightFailed("memorisation", _error_text(err)))
            return
        self.post_message(msg.SampleMatched(card_id, text, match))

    def on_sample_matched(self, message: msg.SampleMatched) -> None:
        card = self.cards.get(message.card_id)
        if card is not None:
            card.mark_match(message.match, message.text)

    def action_source(self) -> None:
        self.show_source()

    def show_source(self) -> None:
        """The training tweet the latest copied sample (else the latest checked one) shares its longest span
        with, as a chat entry."""
        checked = [c for c in self.cards.values() if c.match is not None]
        if not checked:
            pending = any(c.entry is not None for c in self.cards.values())
            self.show_error("still checking the last sample against the training tweets…" if pending and self.app.data_dir
                            else "no sample checked against the training tweets yet (that needs a data directory)")
            return
        # The latest copied sample; else the latest one sharing any words with a training tweet.
        card = next((c for c in reversed(checked) if c.match.copied), None) or \
            next((c for c in reversed(checked) if c.match.record is not None), None)
        if card is None:
            self.show_error("no sample of this chat shares a word with any training tweet")
            return
        self.call_later(self.chat.add, SourceCard(card.author, card.match))

    # --- surprisal --------------------------------------------------------------------------------

    def action_surprisal(self) -> None:
        self.surprisal_on = not self.surprisal_on
        legend = self.query_one(SurprisalLegend)
        legend.display = self.surprisal_on
        legend.side = self.app.side
        if self.surprisal_on:
            self.score_cards([c for c in self.cards.values() if c.entry is not None])
        else:
            for card in self.cards.values():
                card.show_surprisal(None)

    def refresh_surprisal(self) -> None:
        """The chat switched models: re-colour under the new side."""
        if self.surprisal_on:
            self.query_one(SurprisalLegend).side = self.app.side
            self.score_cards([c for c in self.cards.values() if c.entry is not None])

    def score_cards(self, cards: list) -> None:
        loaded = self.app.model
        if loaded is None or not cards:
            return
        items = [(card.id, card.author, card.body_text) for card in cards]
        self.score_worker(items, loaded, self.app.side)

    @work(thread=True, exit_on_error=False, group="surprisal")
    def score_worker(self, items: list[tuple[str, str, str]], loaded: Any, side: str) -> None:
        from tweetsmith.data.records import Record
        from tweetsmith.engine.surprisal import score_texts

        from ..app import _error_text

        try:
            scores = score_texts(loaded, [Record(author, text) for _, author, text in items])
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.InsightFailed("surprisal", _error_text(err)))
            return
        self.post_message(msg.SurprisalScored(side, {cid: (text, s) for (cid, _, text), s in zip(items, scores)}))

    def on_surprisal_scored(self, message: msg.SurprisalScored) -> None:
        if not self.surprisal_on or message.side != self.app.side:
            return  # turned off, or the chat switched sides meanwhile (that rescoring is under way)
        for card_id, (text, score) in message.scores.items():
            card = self.cards.get(card_id)
            if card is not None and card.body_text == text:
                card.show_surprisal(score)

    def score_line(self, request: Any) -> None:
        """``/score TEXT``: the text's tokens under each loaded side (``request``: commands.ScoreRequest)."""
        author = request.author if request.author is not None else self.current_author
        models = {side: self.app.models[side] for side in ("base", "tuned") if side in self.app.models}
        if not models:
            self.show_error("the model is still loading; try again in a moment")
            return
        missing = [side for side in ("base", "tuned") if side not in models and (side == "base" or self.app.has_tuned)]
        self.score_text_worker(author, request.text, models, missing)

    @work(thread=True, exit_on_error=False, group="score")
    def score_text_worker(self, author: str, text: str, models: dict, missing: list) -> None:
        from tweetsmith.data.records import Record
        from tweetsmith.engine.surprisal import disagreements, score_texts

        from ..app import _error_text

        try:
            scores = {side: score_texts(loaded, [Record(author, text)])[0] for side, loaded in models.items()}
            changed = disagreements(scores["base"], scores["tuned"]) if {"base", "tuned"} <= set(scores) else []
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.InsightFailed("score", _error_text(err)))
            return
        self.post_message(msg.TextScored(author, text, scores, changed, missing))

    async def on_text_scored(self, message: msg.TextScored) -> None:
        await self.chat.add(ScoreCard(message.author, message.text, message.scores, message.disagreements, message.missing))

    def on_insight_failed(self, message: msg.InsightFailed) -> None:
        self.notify(message.error, title=f"{message.what.capitalize()} not computed", severity="warning", markup=False)

    # --- intervals and the human band ---------------------------------------------------------------

    def on_diversity_computed(self, message: msg.DiversityComputed) -> None:
        panel = self.query_one(DiversityPanel)
        state = self._insight_state()
        if message.overall is None:
            return
        n = message.overall.samples
        if state["samples"] != n:  # older figures would describe another count
            panel.intervals = None
            panel.band = state["bands"].get(n)
            state["samples"] = n
        self.intervals_worker(self.session.texts(), self.app.data_dir, self._reference)

    def _pool_for(self, data_dir: Path):
        from tweetsmith.engine.bootstrap import human_pool_for_split

        state = self._insight_state()
        with self._pool_lock:
            if state["pool_dir"] != data_dir:
                state["pool"], state["pool_dir"], state["bands"] = human_pool_for_split(data_dir / "test.txt"), data_dir, {}
            return state["pool"]

    @work(thread=True, exclusive=True, exit_on_error=False, group="intervals")
    def intervals_worker(self, texts: list[str], data_dir: Path | None, reference: Any) -> None:
        from textual.worker import get_current_worker

        from tweetsmith.engine.bootstrap import intervals

        from ..app import _error_text

        n = len(texts)
        try:
            found = intervals(texts, reference=reference) if n >= 2 else None
            band = None
            if data_dir is not None and (Path(data_dir) / "test.txt").is_file():
                state = self._insight_state()
                band = state["bands"].get(n)
                if band is None and not get_current_worker().is_cancelled:
                    band = self._pool_for(Path(data_dir)).band(n, repeats=APP_BAND_REPEATS)
                    state["bands"][n] = band
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.InsightFailed("intervals", _error_text(err)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(msg.IntervalsComputed(n, found, band))

    def on_intervals_computed(self, message: msg.IntervalsComputed) -> None:
        panel = self.query_one(DiversityPanel)
        if panel.overall is None or panel.overall.samples != message.samples:
            return  # a newer sample arrived; its own computation follows
        panel.intervals = message.intervals
        panel.band = message.band
