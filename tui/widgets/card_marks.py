"""What a finished card's text can be marked with: its tokens coloured by surprisal, and a span copied
from a training tweet underlined. Plain styled runs for ``Content.assemble`` (model text never goes
through markup).

Surprisal bins, in bits (-log2 p): under 2 (the model expected it), 2-5, 5-10, 10 and more (a surprise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tweetsmith.engine.sides import Side
    from tweetsmith.engine.surprisal import TokenScore

# (upper bound in bits, style, legend label)
SURPRISAL_BINS: tuple[tuple[float, str, str], ...] = (
    (2.0, "$success", "<2"),
    (5.0, "$text", "2-5"),
    (10.0, "$warning", "5-10"),
    (float("inf"), "bold $error", "≥10"),
)
COPIED_STYLE = "underline reverse"
PROMPT_STYLE = "italic $text-muted"


def surprisal_style(bits: float) -> str:
    for upper, style, _ in SURPRISAL_BINS:
        if bits < upper:
            return style
    return SURPRISAL_BINS[-1][1]


def styled_runs(
    body: str, prompt_len: int, *, copied: tuple[int, int] | None = None, tokens: Sequence[TokenScore] = ()
) -> list[tuple[str, str]]:
    """``body`` (the prompt text + the sample) as (text, style) runs: the prompt in muted italics, each
    scored token (``engine.surprisal.TokenScore``: start, end, bits) in its bin's colour, the copied span
    (character range) underlined and reversed."""
    styles = [PROMPT_STYLE if i < prompt_len else "" for i in range(len(body))]
    for token in tokens:
        if getattr(token, "context", False) or getattr(token, "end_of_text", False):
            continue
        colour = surprisal_style(token.bits)
        for i in range(max(token.start, 0), min(token.end, len(body))):
            styles[i] = colour if i >= prompt_len else f"{colour} italic"
    if copied is not None:
        start, end = copied
        for i in range(max(start, 0), min(end, len(body))):
            styles[i] = f"{styles[i]} {COPIED_STYLE}".strip()
    runs: list[tuple[str, str]] = []
    for ch, style in zip(body, styles):
        if runs and runs[-1][1] == style:
            runs[-1] = (runs[-1][0] + ch, style)
        else:
            runs.append((ch, style))
    return runs


def legend_runs(side: Side) -> list[tuple[str, str]]:
    """The legend the panel shows while surprisal colours are on."""
    runs: list[tuple[str, str]] = [("Surprisal", "bold"), (f" under {side} (bits)\n", "dim")]
    for _, style, label in SURPRISAL_BINS:
        runs += [("■", style), (f" {label}  ", "")]
    runs += [("\n", ""), ("copied", COPIED_STYLE), (" from train (s: source)", "dim")]
    return runs
