"""The chat screen's metrics: diversity of the session's samples and perplexity of base vs tuned.

A mixin of ``MainScreen``. Both run in thread workers (exclusive per group, so a newer request
replaces an older one) and post their results back as messages.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from textual import work

from .. import messages as msg
from ..evaluation import compute_table
from ..widgets.diversity_panel import DiversityPanel
from ..widgets.perplexity_panel import PerplexityPanel


class MetricsMixin:
    _reference: Any
    _ppl_cancel: threading.Event | None

    # --- diversity --------------------------------------------------------------------------------

    def update_diversity(self) -> None:
        texts = self.session.texts()
        author = self.current_author or (self.session.entries[-1].author if self.session.entries else "")
        self.query_one(DiversityPanel).author = author
        if not texts:
            self.query_one(DiversityPanel).overall = None
            return
        self.compute_diversity(texts, author, self.session.texts(author), self.app.data_dir)

    @work(thread=True, exclusive=True, exit_on_error=False, group="diversity")
    def compute_diversity(self, texts: list[str], author: str, author_texts: list[str], data_dir: Path | None) -> None:
        from ..app import _error_text

        try:
            from tweetsmith.data.records import read_split_lines
            from tweetsmith.engine.diversity import diversity, reference_from_lines

            if self._reference is None and data_dir is not None and (Path(data_dir) / "test.txt").is_file():
                self._reference = reference_from_lines(read_split_lines(Path(data_dir) / "test.txt"))
            overall = diversity(texts, reference=self._reference)
            per_author = diversity(author_texts, reference=self._reference) if author_texts else None
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.DiversityFailed(_error_text(err)))
            return
        self.post_message(msg.DiversityComputed(overall, author, per_author))

    def on_diversity_computed(self, message: msg.DiversityComputed) -> None:
        panel = self.query_one(DiversityPanel)
        panel.author = message.author
        panel.per_author = message.per_author
        panel.overall = message.overall

    def on_diversity_failed(self, message: msg.DiversityFailed) -> None:
        self.notify(message.error, title="Diversity not computed", severity="warning")

    # --- perplexity -------------------------------------------------------------------------------

    def evaluate(self) -> None:
        """Perplexity of base (and tuned) on valid and test, in the background with a progress bar."""
        panel = self.query_one(PerplexityPanel)
        if panel.busy:
            self.notify("perplexity is already being computed")
            return
        if self.app.run_dir is None and not self.app.models:
            self.notify("no model loaded yet", severity="warning")
            return
        self._ppl_cancel = threading.Event()
        panel.show_progress("starting…", 0, 1)
        self.compute_perplexity(self.app.run_dir, dict(self.app.models), self.app.data_dir, self._ppl_cancel)

    @work(thread=True, exclusive=True, exit_on_error=False, group="perplexity")
    def compute_perplexity(self, run_dir: Path | None, models: dict[str, Any], data_dir: Path | None,
                           cancel: threading.Event) -> None:
        from ..app import _error_text

        try:
            table = compute_table(
                run_dir=run_dir, models=models, data_dir=data_dir, cancel=cancel,
                on_progress=lambda label, done, total: self.post_message(msg.PerplexityProgressed(label, done, total)),
            )
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.PerplexityFailed(_error_text(err)))
            return
        self.post_message(msg.PerplexityComputed(table))

    def on_perplexity_progressed(self, message: msg.PerplexityProgressed) -> None:
        self.query_one(PerplexityPanel).show_progress(f"{message.label} {message.done}/{message.total}", message.done, message.total)

    def on_perplexity_computed(self, message: msg.PerplexityComputed) -> None:
        panel = self.query_one(PerplexityPanel)
        panel.busy = False
        panel.table = message.table

    def on_perplexity_failed(self, message: msg.PerplexityFailed) -> None:
        self.query_one(PerplexityPanel).busy = False
        self.notify(message.error, title="Perplexity not computed", severity="error", timeout=10)
