"""The chat screen: the chat log, the side panels, and the input line; it turns what is typed into work
for its parts (the chat log streams and checks samples, each panel computes its own figures) and asks the
App, by message, for what only the App changes (models, run, training).

It follows the App's workspace (``tui.workspace``) through the one signal the App publishes it on: what
changed since the last one it saw decides, in this order, the session the chat shows, the model in use
(its notice, the cached perplexity, the voice, the colours), the requests waiting for a model (a typed one,
``/ab``) and the data's authors. Everything else reads ``owner.workspace`` when it acts.

Focus rule for the sampling keys: t/T k/K p/P n/N act whenever the input line is NOT focused (they are
letters, and usernames like ``paulg`` start with them). Esc leaves the input (or stops a stream first);
Enter, ``/`` or ``@`` come back to it. The footer lists the keys only while they act, and the sampling
panel says which state it is in (``check_action`` also refuses them while the input has focus, for
terminals that send ``shift+t`` instead of ``T``).

Slash commands are ``SlashCommands``'s (``screens/slash_commands.py``); a request is the chat log's to stream.

Seeds: each request draws a fresh seed (``engine.sampling.fresh_seed``) unless ``/seed N`` pinned one, so
Enter twice gives two tweets; the card shows the seed it used, and ``/seed N`` or ``tweetsmith sample
--seed N`` gives that tweet again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from tweetsmith.engine.sampling import SamplingConfig, fresh_seed
from tweetsmith.engine.sides import SIDES

from .. import messages as msg
from ..commands import PARAM_KEYS, CommandError, Prompt, parse_input, stepped
from ..widgets.chat_log import ChatLog
from ..widgets.diversity_panel import DiversityPanel
from ..widgets.header import ModelHeader
from ..widgets.insight_cards import SurprisalLegend
from ..widgets.perplexity_panel import PerplexityPanel
from ..widgets.prompt_input import AuthorAutoComplete, PromptInput
from ..widgets.sampling_panel import SamplingPanel
from ..widgets.voice_panel import VoicePanel
from ..workspace import Workspace
from .slash_commands import SlashCommands

if TYPE_CHECKING:
    from tweetsmith.engine.models import LoadedModel
    from tweetsmith.engine.sides import Side

    from ..workspace import WorkspaceOwner

_TEMP = Binding.Group("temp")
_TOPK = Binding.Group("top-k")
_TOPP = Binding.Group("top-p")
_NUM = Binding.Group("samples")


class MainScreen(Screen):
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

    def __init__(self, owner: WorkspaceOwner) -> None:
        super().__init__()
        self.owner = owner
        self._shown = Workspace()  # the workspace this screen last followed (see the module's docstring)
        self.current_author = ""
        self.last_prompt: Prompt | None = None  # what /ab sends without a prompt of its own
        self.commands = SlashCommands(self)
        self._pending_ab: Prompt | None = None  # /ab waits for the model it asked the App to load

    # --- layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ModelHeader(self.owner, id="header")
        with Horizontal(id="body"):
            yield ChatLog(self.owner, id="chat")
            with Vertical(id="side"):
                yield PerplexityPanel(self.owner, id="perplexity", classes="panel")
                yield DiversityPanel(self.owner, id="diversity", classes="panel")
                yield VoicePanel(self.owner, id="voice", classes="panel")
                yield SurprisalLegend(id="surprisal-legend", classes="panel")
                yield SamplingPanel(id="sampling", classes="panel")
        yield Static(id="input-error", markup=False)
        prompt = PromptInput(
            placeholder="paulg: The best startups   (Tab completes usernames · /help for commands)", id="prompt"
        )
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

    @property
    def streaming(self) -> bool:
        return self.chat.streaming

    def on_mount(self) -> None:
        self.prompt.focus()
        panel = self.query_one(SamplingPanel)
        panel.seed_auto = self.seed_auto
        panel.config = self.sampling
        self.owner.workspace_changed.subscribe(self, self._follow)
        self.post_message(msg.ChatScreenMounted())

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

    def set_param(self, field: str, value: object) -> bool:
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

    # --- what the App publishes -------------------------------------------------------------------------

    def _follow(self, ws: Workspace) -> None:
        """A new workspace: the chat and the panels follow what changed since the last one (the header
        follows it by itself)."""
        shown, self._shown = self._shown, ws
        if ws.session_path is not None and ws.session_path != shown.session_path:
            self.chat.open_session(ws.session_path)  # the first model in, or /run, /model: its session
        if ws.model is not None and ws.model is not shown.model:
            self._model_in_use(ws.model)
        if any(ws.models.get(side) is not shown.models.get(side) for side in SIDES):
            self._models_in(ws)
        if ws.data_dir != shown.data_dir or ws.authors != shown.authors:
            self._authors_in(ws.authors)

    def _model_in_use(self, loaded: LoadedModel) -> None:
        """The chat uses ``loaded`` now: its notice, the run's cached perplexity, its samples' voice, its colours."""
        if loaded.info.notice:
            self.notify(loaded.info.notice, title="Fallback model", severity="warning", timeout=10)
        self.query_one(PerplexityPanel).show_cached()
        self.query_one(VoicePanel).measure(self.chat.session.entries, self.current_author)  # this model's samples
        if self.chat.surprisal_on:
            self.query_one(SurprisalLegend).side = self.owner.workspace.side
            self.chat.rescore()

    def _models_in(self, ws: Workspace) -> None:
        """A model arrived: the request that waited for it streams (``/ab`` waits for both sides)."""
        if self._pending_ab is not None and {"base", "tuned"} <= set(ws.models):
            prompt, self._pending_ab = self._pending_ab, None
            self.start_generation(prompt, ["base", "tuned"])
        self.chat.release(ws.models)  # a request typed while this model loaded

    def _authors_in(self, authors: tuple[str, ...]) -> None:
        self.query_one(AuthorAutoComplete).authors = list(authors)
        if authors:
            self.prompt.placeholder = (
                f"{authors[0]}: text to continue (optional)   · Tab completes usernames · /help for commands"
            )
        self.update_diversity()

    def on_perplexity_requested(self, message: msg.PerplexityRequested) -> None:
        self.query_one(PerplexityPanel).evaluate(message.records)

    def on_command_chosen(self, message: msg.CommandChosen) -> None:
        self.run_line(message.line)

    # --- what the chat log and the panels report ------------------------------------------------------

    def on_sample_finished(self) -> None:
        self.update_diversity()

    def on_sample_failed(self, message: msg.SampleFailed) -> None:
        self.notify(message.error, title="Generation failed", severity="error", timeout=10)
        self.update_diversity()

    def on_session_shown(self) -> None:
        self.update_diversity()

    def on_insight_failed(self, message: msg.InsightFailed) -> None:
        self.notify(message.error, title=f"{message.what.capitalize()} not computed", severity="warning", markup=False)

    def update_diversity(self) -> None:
        session = self.chat.session
        author = self.current_author or (session.entries[-1].author if session.entries else "")
        self.query_one(DiversityPanel).measure(session.texts(), author, session.texts(author))
        self.query_one(VoicePanel).measure(session.entries, author)

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
            self.start_generation(parsed, [self.owner.workspace.side])
        else:
            self.commands.run(parsed)

    # --- generation ---------------------------------------------------------------------------------

    def start_ab(self, prompt: Prompt) -> None:
        models = self.owner.workspace.models
        missing = [side for side in SIDES if side not in models]
        if "tuned" in missing and not self.owner.workspace.has_tuned:
            self.show_error("/ab needs a tuned model: train one (ctrl+t) or open a run (/run RUN)")
            return
        if missing:
            self._pending_ab = prompt
            self.notify(f"loading the {missing[0]} model for /ab…")
            self.post_message(msg.SideRequested(missing[0], activate=False))
            return
        self.start_generation(prompt, ["base", "tuned"])

    def start_generation(self, prompt: Prompt, sides: list[Side], config: SamplingConfig | None = None) -> None:
        """Stream ``prompt`` on ``sides`` with ``config`` (None: the panel's settings and seed rule); before a
        model it needs is loaded, the request waits on its card and streams once it is."""
        self.last_prompt = prompt
        self.current_author = prompt.author
        config = config or self.sampling.with_changes(seed=fresh_seed() if self.seed_auto else self.sampling.seed)
        models = self.owner.workspace.models
        if all(side in models for side in sides):
            self.chat.stream(prompt, sides, config, {side: models[side] for side in sides})
        else:
            self.chat.hold(prompt, sides, config)

    def on_generation_requested(self, message: msg.GenerationRequested) -> None:
        self.start_generation(message.prompt, message.sides, message.config)  # r and m on a card

    def stop_generation(self, quiet: bool = False) -> None:
        streaming = self.streaming
        self.chat.stop()
        if not quiet and streaming:
            self.notify("stopped", timeout=2)

    # --- insight ------------------------------------------------------------------------------------

    def action_surprisal(self) -> None:
        on = self.chat.toggle_surprisal()
        legend = self.query_one(SurprisalLegend)
        legend.display = on
        legend.side = self.owner.workspace.side

    def action_source(self) -> None:
        why_not = self.chat.show_source()
        if why_not:
            self.show_error(why_not)
