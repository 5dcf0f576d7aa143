"""The report's voice section: are the samples in the prompted author's voice?

From RUN/voice.json (``tweetsmith voice RUN``: N samples per author) a table per author of attribution and
authenticity, base vs tuned, next to the classifier on the author's real test tweets, and the confusion
matrices; without it, the figures over compare's samples (RUN/compare.json) and the command that gives
the rest. Reads caches only: the section never loads a model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .voice_results import Estimate, VoiceResult, shown_author, shown_share

TITLE = "## 3b. Is it their voice? Attribution and authenticity"
DEFINITIONS = (
    "**Attribution**: the share of samples prompted as an author that a classifier fitted on the train split "
    "(TF-IDF of character and word n-grams, logistic regression) attributes to that author; its accuracy on "
    "the real test tweets is the ceiling, 1/authors is chance. **Authenticity**: the cross-validated accuracy "
    "of a classifier telling samples from as many real test tweets of the same author (a classifier "
    "two-sample test); 0.5 means it cannot tell them apart. [95% bootstrap intervals]"
)


def _cell(estimate: Estimate | None) -> str:
    return estimate.shown() if estimate is not None else "–"


def voice_section(run_dir: Path, link: Callable[[Path], str]) -> str:
    from .experiment_cache import cached_samples
    from .voice_run import cached_voice

    out = [TITLE, DEFINITIONS]
    result = cached_voice(run_dir)
    if result is not None:
        out += _per_author(result, link)
        return "\n\n".join(out)
    compared = cached_samples(run_dir)
    figures = {s: f for s, f in (compared.sides.items() if compared else ()) if f.authenticity is not None}
    if compared is not None and figures:
        table = "| | " + " | ".join(figures) + " |\n|---|" + "---:|" * len(figures)
        for label, key in (
            ("attributed to the prompted author", "attribution"),
            ("told from real tweets", "authenticity"),
        ):
            table += (
                f"\n| {label} | "
                + " | ".join(shown_share(f.figure(key), f.interval(key)) for f in figures.values())
                + " |"
            )
        fit = compared.voice_classifier
        ceiling = (
            f" Real test tweets are attributed to their author {fit.test_accuracy.value:.2f} of the time; chance is "
            f"{fit.chance:.3f}."
            if fit is not None
            else " One author: attribution has nothing to choose between."
        )
        out.append(
            f"Over compare's {compared.n} samples per model (authors drawn as often as in the training data):\n\n"
            f"{table}\n\n{ceiling.strip()}"
        )
    out.append(f"Per author: run `tweetsmith voice {run_dir}`.")
    return "\n\n".join(out)


def _per_author(result: VoiceResult, link: Callable[[Path], str]) -> list[str]:
    sides = list(result.sides)
    fit = result.classifier
    out = []
    head = "| author |" + (" real tweets |" if fit else "") + "".join(f" {s} attribution |" for s in sides if fit)
    head += "".join(f" {s} authenticity |" for s in sides)
    columns = head.count("|") - 1
    table = head + "\n|---|" + "---:|" * (columns - 1)
    rows = [(shown_author(a), a) for a in result.authors] + [("**all**", None)]
    for name, author in rows:
        cells = []
        if fit:
            real = fit.test_recall.get(author) if author is not None else fit.test_accuracy.value
            cells.append("–" if real is None else f"{real:.2f}")
        for key in (("attribution",) if fit else ()) + ("authenticity",):
            for side in sides:
                figures = result.sides[side]
                voice = figures if author is None else figures.per_author.get(author)
                cells.append(_cell(getattr(voice, key)) if voice is not None else "–")
        table += f"\n| {name} | " + " | ".join(cells) + " |"
    out.append(table)
    c = result.config
    out.append(
        f"{result.per_author} samples per author and model (prompt `\\author- `), {c.prose()}, seed {c.seed}; "
        f"the same prompts and seeds for both models."
    )
    if fit is not None:
        out.append(
            f"Real tweets: {fit.test_accuracy.value:.2f} of the {fit.test_accuracy.n:,} test tweets are attributed to "
            f"their author ({fit.test_balanced:.2f} averaged over authors, the ceiling for N samples per author); "
            f"chance {fit.chance:.3f}. Classifier: {fit.settings}, chosen among {len(fit.tried)} settings by its "
            f"valid accuracy ({fit.valid_accuracy:.3f})."
        )
    if result.note:
        out.append(f"Note: {result.note}.")
    for side, png in result.plots.items():
        out.append(f"![{side} confusion matrix]({link(Path(png))})")
    return out
