"""The command palette's tweetsmith commands (ctrl+p): the same actions as the keys and slash commands."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (name, help, action string run on the app)
PALETTE_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("Train a model", "open the training screen (ctrl+t)", "app.train"),
    ("Evaluate perplexity", "base vs tuned on valid and test (ctrl+e)", "app.evaluate"),
    ("Toggle base / tuned model", "switch the model the chat uses (ctrl+b)", "app.toggle_side"),
    ("Sweep temperature", "dist-n and self-BLEU against temperature", "app.slash('/sweep temp')"),
    ("Sweep top-k", "dist-n and self-BLEU against top-k", "app.slash('/sweep k')"),
    ("Sweep top-p", "dist-n and self-BLEU against top-p", "app.slash('/sweep p')"),
    (
        "Run the whole assignment",
        "prepare, perplexity, train, compare, sweeps, report (/assignment SOURCE)",
        "app.type('/assignment ')",
    ),
    ("A/B: base vs tuned", "the last prompt to both models, side by side", "app.slash('/ab')"),
    ("Save chat as markdown", "export this chat (/save)", "app.slash('/save')"),
    ("Clear chat", "archive the session and start a new one (/clear)", "app.slash('/clear')"),
    ("Help: keys and commands", "every key and slash command (F1)", "app.help"),
)


class TweetsmithCommands(Provider):
    async def discover(self) -> Hits:
        for name, help_text, action in PALETTE_COMMANDS:
            yield DiscoveryHit(name, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in PALETTE_COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(name), partial(self.app.run_action, action), text=name, help=help_text
                )
