"""The chat screen's metrics: diversity of the session's samples and perplexity of base vs tuned.

A mixin of ``MainScreen``. Both run in thread workers (exclusive per group, so a newer request
replaces an older one) and post their results back as messages. Perplexity comes two ways: the full
valid and test splits (ctrl+e, /eval: minutes on a CPU, cached in the run) and, right after a training,
a quick estimate on the first N valid records that the panel labels as such (never minutes of work the
user did not ask for). ctrl+e during the quick estimate replaces it with the full evaluation.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from textual import work

from .. import messages as msg
from ..evaluation import compute_table, quick_table
from ..widgets.diversity_panel import DiversityPanel
from ..widgets.perplexity_panel import PerplexityPanel


class MetricsMixin:
    _reference: Any
    _ppl_cancel: threading.Event | None
    _ppl_quick: bool  # the running perplexity worker is the quick estimate

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
        if panel.busy and not self._ppl_quick:
            self.notify("perplexity is already being computed")
            return
        if self.app.run_dir is None and not self.app.models:
            self.notify("no model loaded yet", severity="warning")
            return
        self._start_perplexity(None)

    def evaluate_quick(self, records: int) -> None:
        """After a training: base vs tuned on the first ``records`` records of the run's valid split."""
        if self.app.run_dir is None:
            return
        self._start_perplexity(records)

    def _start_perplexity(self, records: int | None) -> None:
        if self._ppl_cancel is not None:
            self._ppl_cancel.set()  # the quick estimate (if running) gives way
        self._ppl_cancel = cancel = self.app.track(threading.Event())
        self._ppl_quick = records is not None
        self.query_one(PerplexityPanel).show_progress("starting…", 0, 1)
        self.compute_perplexity(self.app.run_dir, dict(self.app.models), self.app.data_dir, cancel, records)

    @work(thread=True, exclusive=True, exit_on_error=False, group="perplexity")
    def compute_perplexity(self, run_dir: Path | None, models: dict[str, Any], data_dir: Path | None,
                           cancel: threading.Event, records: int | None = None) -> None:
        """The full splits, or with ``records`` the quick estimate; a cancelled one posts nothing."""
        from ..app import _error_text

        def progress(label: str, done: int, total: int) -> None:
            if not cancel.is_set():
                self.post_message(msg.PerplexityProgressed(label, done, total))

        began = time.perf_counter()
        try:
            if records is None:
                table = compute_table(run_dir=run_dir, models=models, data_dir=data_dir, cancel=cancel, on_progress=progress)
            else:
                assert run_dir is not None
                table, tuned = quick_table(run_dir=run_dir, models=models, records=records, cancel=cancel,
                                           on_progress=progress)
                if tuned is not None and not cancel.is_set():  # keep it: ctrl+b is then instant
                    self.app.post_message(msg.ModelLoaded(tuned, "tuned", time.perf_counter() - began, activate=False))
        except Exception as err:  # noqa: BLE001
            if not cancel.is_set():
                self.post_message(msg.PerplexityFailed(_error_text(err)))
            return
        if not cancel.is_set():
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
