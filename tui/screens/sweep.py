"""The sweep screen (/sweep): dist-1, dist-2 and self-BLEU against temperature, top-k or top-p.

Fed by the engine's sweep (a worker of this screen); Esc closes it and cancels the sweep.
"""

from __future__ import annotations

import threading
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static
from textual_plotext import PlotextPlot

from .. import messages as msg
from ..commands import SweepRequest

METRICS = (("dist_1", "dist-1"), ("dist_2", "dist-2"), ("self_bleu", "self-BLEU"))


def metric(point: dict, key: str) -> float | None:
    """A metric of one sweep point; self-BLEU is stored as ``self_bleu_<n>`` by the engine."""
    if key == "self_bleu":
        return point.get("self_bleu", point.get(f"self_bleu_{point.get('self_bleu_n', 4)}"))
    return point.get(key)


def _label(param: str, value: Any) -> str:
    if param == "top_k" and value == 0:
        return "off"
    return f"{value:g}"


class SweepScreen(Screen):
    BINDINGS = [Binding("escape", "close", "close (cancels a running sweep)")]

    def __init__(self, request: SweepRequest, author: str, sampling: Any):
        super().__init__()
        self.request = request
        self.author = author
        self.sampling = sampling
        self.result: dict | None = None
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(Content.assemble(("Sweep: ", "bold"), (self.request.field, "bold $accent"),
                                      (f" · {self.request.samples} samples per value · other settings: {self.sampling.short()}", "dim")),
                     id="sweep-title")
        yield ProgressBar(id="sweep-progress", show_eta=False)
        yield Static(id="sweep-status", markup=False)
        yield PlotextPlot(id="sweep-plot")
        yield Static(id="sweep-table")
        yield Footer()

    def on_mount(self) -> None:
        app = self.app
        app.track(self._cancel)  # leaving the app cancels the sweep too
        self.query_one("#sweep-status", Static).update("generating…")
        self.run_sweep(app.run_dir, dict(app.models), app.side, app.data_dir)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep")
    def run_sweep(self, run_dir, models, side, data_dir) -> None:
        from ..app import _error_text
        from ..evaluation import run_sweep

        try:
            result = run_sweep(
                run_dir=run_dir, models=models, side=side, data_dir=data_dir, param=self.request.field,
                values=list(self.request.values) if self.request.values else None, n=self.request.samples,
                config=self.sampling, cancel=self._cancel,
                on_progress=lambda label, done, total: self.post_message(msg.SweepProgressed(done, total, label)),
            )
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.SweepFailed(_error_text(err)))
            return
        self.post_message(msg.SweepFinished(self.request.field, result))

    def on_sweep_progressed(self, message: msg.SweepProgressed) -> None:
        self.query_one("#sweep-progress", ProgressBar).update(total=max(message.total, 1), progress=message.done)
        self.query_one("#sweep-status", Static).update(f"{message.label}: {message.done}/{message.total} samples")

    def on_sweep_finished(self, message: msg.SweepFinished) -> None:
        self.result = message.result
        self.query_one("#sweep-progress", ProgressBar).display = False
        note = message.result.get("note", "")
        self.query_one("#sweep-status", Static).update(f"done{' · ' + note if note else ''}")
        self._plot(message.result)

    def on_sweep_failed(self, message: msg.SweepFailed) -> None:
        self.query_one("#sweep-progress", ProgressBar).display = False
        self.query_one("#sweep-status", Static).update(f"sweep failed: {message.error}")
        self.notify(message.error, title="Sweep failed", severity="error", timeout=10)

    def _plot(self, result: dict) -> None:
        param, curves = result["param"], result["curves"]
        values = result["values"]
        ticks = list(range(1, len(values) + 1))  # categorical x: top-k's "off" (0) is not a small k
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(f"diversity against {param} ({result['n']} samples per value)")
        plt.xticks(ticks, [_label(param, v) for v in values])
        plt.xlabel(param)
        for side, curve in curves.items():
            for key, name in METRICS:
                points = [(x, metric(p, key)) for x, p in zip(ticks, curve) if metric(p, key) is not None]
                if points:  # plotext's legend breaks on a series with no points
                    plt.plot([x for x, _ in points], [y for _, y in points], label=f"{side} {name}")
        plot.refresh()
        table: list = [(f"{param:<16}" + "".join(f"{_label(param, v):>8}" for v in values), "bold")]
        for side, curve in curves.items():
            for key, name in (*METRICS, ("overlap", "overlap"), ("mean_words", "words")):
                cells = "".join(f"{metric(p, key):>8.3f}" if metric(p, key) is not None else f"{'–':>8}" for p in curve)
                table += ["\n", (f"{side} {name}"[:16].ljust(16), "dim"), cells]
        self.query_one("#sweep-table", Static).update(Content.assemble(*table))

    def action_close(self) -> None:
        self._cancel.set()
        self.workers.cancel_group(self, "sweep")
        self.app.pop_screen()
