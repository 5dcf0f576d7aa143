"""The sweep screen (/sweep): dist-1, dist-2 and self-BLEU against temperature, top-k or top-p.

Fed by the engine's sweep (a worker of this screen); Esc closes it and cancels the sweep.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static
from textual_plotext import PlotextPlot

from .. import messages as msg
from ..commands import SweepRequest
from ..errors import error_text

if TYPE_CHECKING:
    from tweetsmith.engine.models import LoadedModel
    from tweetsmith.engine.progress import Progress
    from tweetsmith.engine.results import SweepPoint, SweepResult
    from tweetsmith.engine.sampling import SamplingConfig
    from tweetsmith.engine.sides import Side

    from ..workspace import WorkspaceOwner

METRICS = (("dist_1", "dist-1"), ("dist_2", "dist-2"), ("self_bleu", "self-BLEU"))


def metric(point: SweepPoint, key: str) -> float | None:
    """A figure of one sweep point, by name (``dist_1``, ``self_bleu``, ``overlap``, ``mean_words``, ...)."""
    return point.figures.figure(key)


def _label(param: str, value: float) -> str:
    if param == "top_k" and value == 0:
        return "off"
    return f"{value:g}"


class SweepScreen(Screen):
    BINDINGS = [Binding("escape", "close", "close (cancels a running sweep)")]

    def __init__(self, owner: WorkspaceOwner, request: SweepRequest, author: str, sampling: SamplingConfig):
        super().__init__()
        self.owner = owner
        self.request = request
        self.author = author
        self.sampling = sampling
        self.result: SweepResult | None = None
        self._cancel = owner.cancels.track(threading.Event())  # leaving the app cancels the sweep too

    def compose(self) -> ComposeResult:
        yield Static(
            Content.assemble(
                ("Sweep: ", "bold"),
                (self.request.field, "bold $accent"),
                (f" · {self.request.samples} samples per value · other settings: {self.sampling.short()}", "dim"),
            ),
            id="sweep-title",
        )
        yield ProgressBar(id="sweep-progress", show_eta=False)
        yield Static(id="sweep-status", markup=False)
        yield PlotextPlot(id="sweep-plot")
        yield Static(id="sweep-table")
        yield Footer()

    def on_mount(self) -> None:
        ws = self.owner.workspace
        self.query_one("#sweep-status", Static).update("generating…")
        self.run_sweep(ws.run_dir, dict(ws.models), ws.side, ws.data_dir)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep")
    def run_sweep(
        self, run_dir: Path | None, models: dict[Side, LoadedModel], side: Side, data_dir: Path | None
    ) -> None:
        from tweetsmith.engine.experiments import sweep_open

        try:
            result = sweep_open(
                run_dir=run_dir,
                models=models,
                side=side,
                data_dir=data_dir,
                param=self.request.field,
                values=list(self.request.values) if self.request.values else None,
                n=self.request.samples,
                config=self.sampling,
                cancel=self._cancel,
                precision=self.owner.precision,
                on_progress=self._progressed,
            )
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.SweepFailed(error_text(err)))
            return
        self.post_message(msg.SweepFinished(self.request.field, result))

    def _progressed(self, event: Progress) -> None:
        """The sweep's ``on_progress`` (called in its thread); an unknown total shows as 1."""
        self.post_message(msg.SweepProgressed(event.done, 1 if event.total is None else event.total, event.stage))

    def on_sweep_progressed(self, message: msg.SweepProgressed) -> None:
        self.query_one("#sweep-progress", ProgressBar).update(total=max(message.total, 1), progress=message.done)
        self.query_one("#sweep-status", Static).update(f"{message.label}: {message.done}/{message.total} samples")

    def on_sweep_finished(self, message: msg.SweepFinished) -> None:
        self.result = message.result
        self.query_one("#sweep-progress", ProgressBar).display = False
        note = message.result.note
        self.query_one("#sweep-status", Static).update(f"done{' · ' + note if note else ''}")
        self._plot(message.result)

    def on_sweep_failed(self, message: msg.SweepFailed) -> None:
        self.query_one("#sweep-progress", ProgressBar).display = False
        self.query_one("#sweep-status", Static).update(f"sweep failed: {message.error}")
        self.notify(message.error, title="Sweep failed", severity="error", timeout=10)

    def _plot(self, result: SweepResult) -> None:
        param, curves = result.param, result.curves
        values = result.values
        ticks = [float(x) for x in range(1, len(values) + 1)]  # categorical x: top-k's "off" (0) is not a small k
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(f"diversity against {param} ({result.n} samples per value)")
        plt.xticks(ticks, [_label(param, v) for v in values])
        plt.xlabel(param)
        for side, curve in curves.items():
            for key, name in METRICS:
                points = [(x, metric(p, key)) for x, p in zip(ticks, curve) if metric(p, key) is not None]
                if points:  # plotext's legend breaks on a series with no points
                    plt.plot([x for x, _ in points], [y for _, y in points], label=f"{side} {name}")
        band = result.human
        if band is not None:
            for key, _ in METRICS:
                for bound in band.bounds.get(key, ()):  # the human band's edges: a curve between them reads as human
                    plt.hline(bound, "gray")
        plot.refresh()
        table: list = [(f"{param:<16}" + "".join(f"{_label(param, v):>8}" for v in values), "bold")]
        for side, curve in curves.items():
            for key, name in (*METRICS, ("overlap", "overlap"), ("mean_words", "words"), ("copied", "copied")):
                cells = "".join(f"{metric(p, key):>8.3f}" if metric(p, key) is not None else f"{'–':>8}" for p in curve)
                table += ["\n", (f"{side} {name}"[:16].ljust(16), "dim"), cells]
        if band is not None:
            shown = ", ".join(
                f"{name} {band.bounds[key][0]:.3f}-{band.bounds[key][1]:.3f}"
                for key, name in (*METRICS, ("overlap", "overlap"))
                if key in band.bounds
            )
            table += ["\n", (f"human band ({band.n} test tweets, grey lines): {shown}", "dim")]
        self.query_one("#sweep-table", Static).update(Content.assemble(*table))

    def action_close(self) -> None:
        self._cancel.set()
        self.workers.cancel_group(self, "sweep")
        self.app.pop_screen()
