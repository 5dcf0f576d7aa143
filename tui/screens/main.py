"""The chat screen: a log of streamed samples, the side panels, and the input line.

Focus rule for the sampling keys: t/T k/K p/P n/N act whenever the input line is NOT focused (they are
letters, and usernames like ``paulg`` start with them). Esc leaves the input (or stops a stream first);
Enter, ``/`` or ``@`` come back to it. The footer lists the keys only while they act, and the sampling
panel says which state it is in (``check_action`` also refuses them while the input has focus, for
terminals that send ``shift+t`` instead of ``T``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from tweetsmith.engine.sampling import SamplingConfig

from ..commands import PARAM_KEYS, Command, CommandError, Prompt, SweepRequest, parse_input, stepped
from ..display import short_path
from ..evaluation import cached_table
from ..session import ChatEntry, Session, default_session_path
from ..widgets.chat_log import ChatLog
from ..widgets.diversity_panel import DiversityPanel
from ..widgets.header import ModelHeader
from ..widgets.message_card import MessageCard
from ..widgets.perplexity_panel import PerplexityPanel
from ..widgets.prompt_input import AuthorAutoComplete, PromptInput
from ..widgets.sampling_panel import SamplingPanel
from ..widgets.insight_cards import SurprisalLegend
from .generation import GenerationMixin
from .insight import InsightMixin
from .metrics import MetricsMixin

MAX_REOPENED_CARDS = 200  # a long session reopens with its latest cards; the file keeps them all

_TEMP = Binding.Group("temp")
_TOPK = Binding.Group("top-k")
_TOPP = Binding.Group("top-p")
_NUM = Binding.Group("samples")


class MainScreen(GenerationMixin, MetricsMixin, InsightMixin, Screen):
    BINDINGS = [
        Binding("escape", "escape", "stop/leave"),
        Binding("t", "param('t')", "temperature −0.1", group=_TEMP),
        Binding("T", "param('T')", "temperature +0.1", group=_TEMP),
        Binding("k", "param('k')", "top-k −5", group=_TOPK),
        Binding("K", "param('K')", "top-k +5", group=_TOPK),
        Binding("p", "param('p')", "top-p −0.05", group=_TOPP),
        Binding("P", "param('P')", "top-p +0.05", group=_TOPP),
        Binding("n", "param('n')", "samples −1", group=_NUM),
        Binding("N", "param('N')", "samples +1", group=_NUM),
        # Terminals with the kitty keyboard protocol may send shift+t rather than T.
        *[Binding(f"shift+{k.lower()}", f"param('{k}')", "", show=False) for k in "TKPN"],
        # Listed in the help (F1), not in the footer, which is full.
        Binding("u", "surprisal", "colour the cards' tokens by surprisal (again: off)", show=False),
        Binding("s", "source", "the training tweet the last sample copied from", show=False),
        Binding("enter", "focus_input", "Type", show=False),
        Binding("slash", "focus_input('/')", "Command", show=False),
        Binding("at", "focus_input('@')", "User", show=False),
    ]

    sampling: reactive[SamplingConfig] = reactive(SamplingConfig, always_update=True)
    seed_auto: reactive[bool] = reactive(True)  # a fresh seed per request until /seed N pins sampling.seed
    streaming: reactive[bool] = reactive(False)

    def __init__(self) -> None:
        super().__init__()
        self.session = Session(None)
        self.cards: dict[str, MessageCard] = {}
        self._cancel: threading.Event | None = None
        self._counter = 0
        self._last_prompt: Prompt | None = None
        self._pending_ab: Prompt | None = None
        self._reference: Any = None  # engine.diversity reference vocabulary of the test split
        self._ppl_cancel: threading.Event | None = None
        self._ppl_quick = False
        self.current_author = ""

    # --- layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ModelHeader(id="header")
        with Horizontal(id="body"):
            yield ChatLog(id="chat")
            with Vertical(id="side"):
                yield PerplexityPanel(id="perplexity", classes="panel")
                yield DiversityPanel(id="diversity", classes="panel")
                yield SurprisalLegend(id="surprisal-legend", classes="panel")
                yield SamplingPanel(id="sampling", classes="panel")
        yield Static(id="input-error", markup=False)
        prompt = PromptInput(placeholder="paulg: The best startups   (Tab completes usernames · /help for commands)", id="prompt")
        yield prompt
        yield AuthorAutoComplete(prompt, id="autocomplete")
        yield Footer()

    @property
    def header(self) -> ModelHeader:
        return self.query_one(ModelHeader)

    @property
    def chat(self) -> ChatLog:
        return self.query_one(ChatLog)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    def on_mount(self) -> None:
        self.prompt.focus()
        panel = self.query_one(SamplingPanel)
        panel.seed_auto = self.seed_auto
        panel.config = self.sampling
        self.app.main_screen_ready()

    def watch_sampling(self, config: SamplingConfig) -> None:
        if self.is_mounted:
            self.query_one(SamplingPanel).config = config

    def watch_seed_auto(self, auto: bool) -> None:
        if self.is_mounted:
            self.query_one(SamplingPanel).seed_auto = auto

    # --- focus rule -------------------------------------------------------------------------------

    @property
    def keys_active(self) -> bool:
        return self.focused is not self.prompt

    def on_descendant_focus(self) -> None:
        self._focus_changed()

    def on_descendant_blur(self) -> None:
        self.call_after_refresh(self._focus_changed)

    def _focus_changed(self) -> None:
        self.query_one(SamplingPanel).keys_active = self.keys_active
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("param", "surprisal", "source") and not self.keys_active:
            return None  # refused: the input has the letters now
        return True

    def action_focus_input(self, text: str = "") -> None:
        self.prompt.focus()
        if text and not self.prompt.value:
            self.prompt.value = text
            self.prompt.cursor_position = len(text)

    def action_escape(self) -> None:
        if self.streaming:
            self.stop_generation()
        elif self.focused is self.prompt:
            self.chat.focus()
        else:
            self.prompt.focus()

    # --- sampling parameters ----------------------------------------------------------------------

    def action_param(self, key: str) -> None:
        field, step = PARAM_KEYS[key]
        self.set_param(field, stepped(field, getattr(self.sampling, field), step))

    def set_param(self, field: str, value: Any) -> bool:
        from tweetsmith.engine.errors import ConfigError

        try:
            self.sampling = self.sampling.with_changes(**{field: value})
        except ConfigError as err:
            self.show_error(str(err))
            return False
        return True

    def pin_seed(self, seed: int | None) -> None:
        """``/seed N``: every request uses N (sample i of n: N + i) until ``/seed auto`` (None)."""
        if seed is None:
            self.seed_auto = True
            return
        if self.set_param("seed", seed):
            self.seed_auto = False

    # --- model and data ---------------------------------------------------------------------------

    def model_ready(self, side: str, loaded: Any, seconds: float, activate: bool) -> None:
        """The app loaded a model (or switched sides): update the header, the session, the panels."""
        if activate:
            info = loaded.info
            self.header.model_name = info.name
            self.header.adapter = _adapter_label(info.adapter, self.app.run_dir)
            self.header.device, self.header.dtype = info.device, info.dtype
            self.header.side = side
            if seconds:
                status = self.header.status = f"loaded in {seconds:.1f} s"
                self.set_timer(5, lambda: setattr(self.header, "status", "") if self.header.status == status else None)
            else:
                self.header.status = ""
            if info.notice:
                self.header.notice = info.notice
                self.notify(info.notice, title="Fallback model", severity="warning", timeout=10)
            if self.session.path is None:
                self._open_session(loaded)
            self._show_cached_perplexity()
            self.refresh_surprisal()
        if self._pending_ab is not None and {"base", "tuned"} <= set(self.app.models):
            prompt, self._pending_ab = self._pending_ab, None
            self.start_generation(prompt, ["base", "tuned"])

    def data_ready(self, data_dir: Path, authors: list[str]) -> None:
        self.query_one(AuthorAutoComplete).authors = authors
        if authors:
            self.prompt.placeholder = f"{authors[0]}: text to continue (optional)   · Tab completes usernames · /help for commands"
        self._reference = None
        self.update_diversity()

    def reopen_session(self) -> None:
        """After /run or /model: show that run's (or model's) session instead."""
        if self.app.model is not None:
            self._open_session(self.app.model)

    def _open_session(self, loaded: Any) -> None:
        from tweetsmith.engine.paths import home

        path = self.app.session_path or default_session_path(self.app.run_dir, loaded.info.name, home())
        if path == self.session.path:
            return
        self.session = Session(path)
        entries = self.session.load()
        self.call_later(self._show_entries, entries)

    async def _show_entries(self, entries: list[ChatEntry]) -> None:
        await self.chat.clear()
        self.cards.clear()
        shown = entries[-MAX_REOPENED_CARDS:]
        for entry in shown:
            await self.chat.add(MessageCard.from_entry(entry, show_side=self.app.has_tuned))
        if entries:
            hidden = f" (the latest {len(shown)} shown)" if len(shown) < len(entries) else ""
            note = f"reopened {len(entries)} samples from {self.session.path.name}{hidden}"
            await self.chat.mount(Static(note, classes="session-note", markup=False), before=0)
            self.chat.scroll_end(animate=False)
        self.update_diversity()

    def _show_cached_perplexity(self) -> None:
        try:
            table = cached_table(self.app.run_dir)
        except Exception as err:  # noqa: BLE001 - a broken cache is recomputed on ctrl+e
            self.notify(f"could not read the cached perplexity: {err}", severity="warning")
            return
        panel = self.query_one(PerplexityPanel)
        if table is not None or self.app.run_dir is None:
            panel.table = table

    # --- input ------------------------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        error = self.query_one("#input-error", Static)
        error.update(text)
        error.display = bool(text)

    @on(Input.Changed, "#prompt")
    def _clear_error(self, event: Input.Changed) -> None:
        if event.value:  # not the change from clearing the line after Enter
            self.show_error("")

    @on(Input.Submitted, "#prompt")
    def _submitted(self, event: Input.Submitted) -> None:
        line = event.value
        if not line.strip():
            return
        self.prompt.remember(line)
        self.prompt.value = ""
        self.run_line(line)

    def run_line(self, line: str) -> None:
        """Act on one line of input: a slash command or a prompt; errors show under the input."""
        try:
            parsed = parse_input(line)
        except CommandError as err:
            self.show_error(str(err))
            return
        if isinstance(parsed, Prompt):
            self.start_generation(parsed, [self.app.side])
        else:
            self.run_command(parsed)

    def run_command(self, command: Command) -> None:
        from ..commands import spec_for

        spec = spec_for(command.name)
        if spec.field is not None:
            self.set_param(spec.field, command.value)
            return
        name, value = command.name, command.value
        if name == "seed":
            self.pin_seed(value)  # type: ignore[arg-type]
        elif name == "model":
            self.app.open_target(None, str(value))
        elif name == "run":
            run = Path(str(value)).expanduser()
            if not (run / "config.json").is_file():
                self.show_error(f"{run}: not a run directory (no config.json); train one with ctrl+t")
                return
            self.app.open_target(run, None)
        elif name in ("base", "tuned"):
            self.app.switch_side(name)
        elif name == "ab":
            prompt = value or self._last_prompt
            if prompt is None:
                self.show_error("/ab needs a prompt the first time: /ab paulg: The best")
                return
            self.start_ab(prompt)
        elif name == "train":
            self.app.action_train()
        elif name == "eval":
            self.evaluate()
        elif name == "sweep":
            self.open_sweep(value)
        elif name == "score":
            self.score_line(value)
        elif name == "source":
            self.show_source()
        elif name == "save":
            self.save_markdown(value)
        elif name == "clear":
            self.clear_chat()
        elif name == "help":
            self.app.action_help()
        elif name == "quit":
            self.app.action_quit()

    # --- sweep, save, clear -----------------------------------------------------------------------

    def open_sweep(self, request: SweepRequest) -> None:
        from .sweep import SweepScreen

        if self.app.model is None:
            self.show_error("the model is still loading; try again in a moment")
            return
        author = self.current_author or (self.app.authors[0] if self.app.authors else "")
        self.app.push_screen(SweepScreen(request, author, self.sampling))

    def save_markdown(self, path: str | None) -> None:
        from tweetsmith.engine.runs import write_text_atomic

        if path:
            target = Path(path).expanduser()
        elif self.app.run_dir is not None:
            target = self.app.run_dir / "chat.md"
        else:
            target = Path(f"tweetsmith-chat-{time.strftime('%Y%m%d-%H%M%S')}.md")
        title = f"tweetsmith chat · {self.header.model_name}"
        try:
            write_text_atomic(target, self.session.to_markdown(title))
        except OSError as err:
            self.show_error(f"could not write {target}: {err.strerror}; give another path: /save PATH")
            return
        self.notify(f"saved {len(self.session.entries)} samples to {target}")

    def clear_chat(self) -> None:
        archived = self.session.clear()
        self.cards.clear()
        self.call_later(self.chat.clear)
        self.update_diversity()
        if archived is not None:
            self.notify(f"cleared; the old session is kept in {archived}")


def _adapter_label(adapter: str | None, run_dir: Path | None) -> str:
    if not adapter:
        return ""
    where = run_dir if run_dir is not None else Path(adapter)
    return f"LoRA ({short_path(where)})"
