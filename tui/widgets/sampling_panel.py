"""The current sampling parameters. One reactive holds the config, so a key press redraws the panel.

The seed row says ``auto`` (a fresh seed per request, shown on each card) or the value ``/seed N`` pinned.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from tweetsmith.engine.sampling import SamplingConfig


class SamplingPanel(Widget):
    config: reactive[SamplingConfig] = reactive(SamplingConfig, always_update=True)
    keys_active: reactive[bool] = reactive(False)  # whether t/T... act now (the input is not focused)
    seed_auto: reactive[bool] = reactive(True)  # the seed row shows "auto" instead of config.seed

    def compose(self) -> ComposeResult:
        yield Static(classes="panel-title", id="sampling-title")
        yield Static(id="sampling-values")
        yield Static(id="sampling-keys")

    def watch_config(self, config: SamplingConfig) -> None:
        if not self.children:
            return
        rows = [
            ("temp", "greedy" if config.greedy else f"{config.temperature:g}", "t/T"),
            ("top-k", "off" if config.top_k == 0 else str(config.top_k), "k/K"),
            ("top-p", f"{config.top_p:g}", "p/P"),
            ("samples", str(config.num_samples), "n/N"),
            ("max tok", str(config.max_new_tokens), "/max"),
            ("seed", "auto" if self.seed_auto else str(config.seed), "/seed"),
        ]
        extra = [(short, value) for short, _, value in config.knobs_on()]  # the engine's labels, as on the cards
        parts: list = []
        for i, (name, value, key) in enumerate(rows):
            parts += [(f"{name:<8}", "dim"), (f"{value:>7}", "bold"), (f"  {key}", "dim italic")]
            if i < len(rows) - 1 or extra:
                parts.append("\n")
        for i, (name, number) in enumerate(extra):
            parts += [(f"{name:<8}", "dim"), (f"{number:>7g}", "bold")]
            if i < len(extra) - 1:
                parts.append("\n")
        self.query_one("#sampling-values", Static).update(Content.assemble(*parts))

    def watch_seed_auto(self) -> None:
        self.watch_config(self.config)

    def watch_keys_active(self, active: bool) -> None:
        if not self.children:
            return
        self.query_one("#sampling-title", Static).update(Content.assemble(("Sampling", "bold")))
        keys = self.query_one("#sampling-keys", Static)
        if active:
            keys.update(Content.assemble(("keys on: ", "bold $success"), ("t/T k/K p/P n/N", "")))
        else:
            keys.update(
                Content.assemble(
                    ("keys off while typing: ", "$text-muted"), ("Esc", "bold"), (" to use them", "$text-muted")
                )
            )

    def on_mount(self) -> None:
        self.watch_config(self.config)
        self.watch_keys_active(self.keys_active)
