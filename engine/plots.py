"""PNG plots (matplotlib, Agg backend: no display needed) and terminal plots (plotext) of experiment results.

Inputs are ``results.SweepResult`` (a cached ``RUN/sweep-*.json`` read back with ``experiment_cache.cached_sweep``
re-plots without a model) and the run's metrics (``runs.read_metrics``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .results import SweepPoint, SweepResult
from .runs import read_metrics

# (figure name, axis label)
SWEEP_METRICS = (
    ("dist_1", "dist-1"),
    ("dist_2", "dist-2"),
    ("self_bleu", "self-BLEU"),
    ("overlap", "overlap with test"),
    ("mean_words", "mean words"),
    ("copied", "copied from train"),
    ("attribution", "attribution"),  # share attributed to the prompted author
    ("authenticity", "tell-apart"),  # C2ST accuracy against real tweets (0.5: indistinguishable)
)
SIDE_STYLE = {"base": ("tab:gray", "o", "--"), "tuned": ("tab:blue", "s", "-")}


def _metric(point: SweepPoint, key: str) -> float | None:
    return point.figures.figure(key)


def human_bounds(sweep_result: SweepResult, key: str) -> tuple[float, float] | None:
    """The human band of a figure, (low, high), when the result has one."""
    if sweep_result.human is None:
        return None
    return sweep_result.human.bounds.get(key)


def _interval(point: SweepPoint, key: str) -> tuple[float, float] | None:
    return point.figures.interval(key)


def sweep_axis(sweep_result: SweepResult) -> tuple[list[float], list[str]]:
    """x positions and tick labels: numeric values, except top_k where 0 (off) goes last, labelled "off"."""
    values = list(sweep_result.values)
    if sweep_result.param == "top_k":
        order = sorted(range(len(values)), key=lambda i: (values[i] == 0, values[i]))
        labels = ["off" if values[i] == 0 else str(values[i]) for i in order]
        return [float(order.index(i)) for i in range(len(values))], labels
    return [float(v) for v in values], [f"{v:g}" for v in values]


def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: str | Path) -> Path:
    """The figure as a PNG at ``path``, written to a temp file and renamed (never half a PNG); closed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def plot_sweep(sweep_result: SweepResult, path: str | Path) -> Path:
    """One PNG with a panel per metric (dist-1, dist-2, self-BLEU, overlap, mean words, copied, attribution,
    authenticity) against the swept parameter, a curve per model (base dashed grey, tuned blue) with its
    95% bootstrap interval shaded, and the human band (the same figure on as many test tweets) as a green stripe."""
    plt = _mpl()

    xs, labels = sweep_axis(sweep_result)
    param = sweep_result.param
    columns = (len(SWEEP_METRICS) + 1) // 2  # two rows: diversity and overlap, then copying and voice
    fig, grid = plt.subplots(2, columns, figsize=(4 * columns, 7.2), constrained_layout=True, squeeze=False)
    axes = grid.ravel()
    for ax, (key, title) in zip(axes, SWEEP_METRICS):
        band = human_bounds(sweep_result, key)
        if band is not None:
            ax.axhspan(band[0], band[1], color="tab:green", alpha=0.15, lw=0, label="human band")
        _voice_references(ax, sweep_result, key)
        for side, points in sweep_result.curves.items():
            color, marker, style = SIDE_STYLE.get(side, ("tab:orange", "^", "-"))
            pairs = sorted((x, _metric(p, key)) for x, p in zip(xs, points) if _metric(p, key) is not None)
            if pairs:
                ax.plot(
                    [a for a, _ in pairs],
                    [b for _, b in pairs],
                    marker=marker,
                    linestyle=style,
                    color=color,
                    label=side,
                )
            spans = sorted((x, span) for x, p in zip(xs, points) if (span := _interval(p, key)) is not None)
            if spans:
                ax.fill_between(
                    [a for a, _ in spans],
                    [lo for _, (lo, _) in spans],
                    [hi for _, (_, hi) in spans],
                    color=color,
                    alpha=0.2,
                    lw=0,
                )
        ax.set_title(title)
        ax.set_xlabel(param)
        if param == "top_k":
            ax.set_xticks(sorted(xs), [labels[i] for i in range(len(labels))])
        ax.grid(alpha=0.3)
    axes[0].legend()
    human = sweep_result.human
    band_note = f"; green: {human.repeats} sets of {human.n} test tweets" if human else ""
    fig.suptitle(
        f"{param} sweep: {sweep_result.n} samples per point (self-BLEU-{sweep_result.bleu_n} at that count); "
        f"shaded: 95% bootstrap interval{band_note}"
    )
    return _save(plt, fig, path)


def _voice_references(ax, sweep_result: SweepResult, key: str) -> None:
    """What a voice figure is read against: the classifier on real test tweets and chance (attribution),
    0.5, where the two-sample test cannot tell samples from real tweets (authenticity)."""
    fit = sweep_result.voice_classifier
    if key == "attribution" and fit is not None:
        ax.axhline(fit.test_accuracy.value, color="tab:green", linestyle="--", lw=1, label="real tweets")
        ax.axhline(fit.chance, color="tab:red", linestyle=":", lw=1, label="chance")
        ax.legend(fontsize=7)
    elif key == "authenticity":
        ax.axhline(0.5, color="tab:green", linestyle="--", lw=1, label="can't tell")
        ax.legend(fontsize=7)


def plot_training(run_dir: str | Path, path: str | Path) -> Path | None:
    """Training loss (and valid perplexity when logged) against step, from the run's metrics; None if none."""
    rows = read_metrics(run_dir)
    loss = [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None and r.get("step") is not None]
    ppl = [(r["step"], r.get("valid_perplexity")) for r in rows if r.get("valid_perplexity") is not None]
    if not loss and not ppl:
        return None
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(7, 3.6), constrained_layout=True)
    if loss:
        ax.plot(*zip(*loss), color="tab:blue", label="train loss")
        ax.set_ylabel("loss (nats/token)")
    ax.set_xlabel("step")
    if ppl:
        ax2 = ax.twinx()
        ax2.plot(*zip(*ppl), color="tab:red", marker="o", label="valid perplexity")
        ax2.set_ylabel("valid perplexity")
    ax.grid(alpha=0.3)
    fig.legend(loc="upper right")
    return _save(plt, fig, path)


def terminal_sweep_plot(
    sweep_result: SweepResult,
    metrics: Sequence[str] = ("dist_1", "self_bleu"),
    width: int = 100,
    height: int = 18,
    color: bool = True,
) -> str:
    """The sweep's curves as text (plotext), for the terminal; ``color=False`` for plain text (pipes, files)."""
    import plotext as plt

    xs, labels = sweep_axis(sweep_result)
    names = dict(SWEEP_METRICS)
    # clear_figure() resets only the active subplot: reset the whole (global) figure, or an earlier
    # plot's subplots leak into this one.
    plt.main().clear_figure()
    plt.plotsize(width, height)
    plt.subplots(1, len(metrics))
    for column, key in enumerate(metrics, 1):
        plt.subplot(1, column)
        plt.title(f"{names.get(key, key)} vs {sweep_result.param}")
        for side, points in sweep_result.curves.items():
            pairs = sorted((x, _metric(p, key)) for x, p in zip(xs, points) if _metric(p, key) is not None)
            if pairs:
                plt.plot([a for a, _ in pairs], [b for _, b in pairs], label=side, marker="dot")
        band = human_bounds(sweep_result, key)
        if band is not None:  # the human band's edges as two horizontal lines
            plt.hline(band[0], "green")
            plt.hline(band[1], "green")
        plt.xticks(sorted(xs), labels if sweep_result.param == "top_k" else [f"{x:g}" for x in sorted(xs)])
    text = plt.build()
    plt.main().clear_figure()
    return text if color else re.sub(r"\x1b\[[0-9;]*m", "", text)


def plot_confusion(confusion: Sequence[Sequence[int]], authors: Sequence[str], path: str | Path, title: str) -> Path:
    """The voice confusion matrix as a PNG: a row per prompted author, a column per author the classifier
    attributed the sample to; each cell's colour is its share of the row, its text the count."""
    import numpy as np

    plt = _mpl()
    counts = np.asarray(confusion, dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 1.2 + 0.45 * len(authors)
    fig, ax = plt.subplots(figsize=(size + 1.5, size), constrained_layout=True)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(counts):
        if count:
            ax.text(
                column,
                row,
                f"{int(count)}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if shares[row, column] > 0.5 else "black",
            )
    ax.set_xticks(range(len(authors)), authors, rotation=60, ha="right")
    ax.set_yticks(range(len(authors)), authors)
    ax.set_xlabel("attributed to")
    ax.set_ylabel("prompted as")
    fig.colorbar(image, ax=ax, label="share of the row")
    ax.set_title(title)
    return _save(plt, fig, path)
