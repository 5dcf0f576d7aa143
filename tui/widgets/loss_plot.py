"""The live loss curve with valid-perplexity points on a second axis (textual-plotext)."""

from __future__ import annotations

from textual_plotext import PlotextPlot


class LossPlot(PlotextPlot):
    def on_mount(self) -> None:
        super().on_mount()
        self.reset()

    def reset(self) -> None:
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.eval_steps: list[int] = []
        self.perplexities: list[float] = []
        self._draw()

    def add_loss(self, step: int, loss: float) -> None:
        self.steps.append(step)
        self.losses.append(loss)
        self._draw()

    def add_perplexity(self, step: int, perplexity: float) -> None:
        self.eval_steps.append(step)
        self.perplexities.append(perplexity)
        self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("train loss (left) · valid perplexity (right, dots)")
        plt.xlabel("step")
        if self.steps:
            plt.plot(self.steps, self.losses, label="loss")
        if self.eval_steps:
            plt.scatter(self.eval_steps, self.perplexities, yside="right", marker="dot", label="valid ppl")
        self.refresh()
