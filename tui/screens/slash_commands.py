"""The chat screen's slash commands: each parsed ``Command`` (``tui.commands``) becomes a change of the
sampling, a request to the App (``/model``, ``/run``, ``/base``, ``/tuned``), a screen of its own
(``/sweep``, ``/assignment``) or work for the chat screen's parts (``/ab``, ``/score``, ``/save``,
``/clear``). What is refused shows under the input (``MainScreen.show_error``), as a parse error does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tweetsmith.engine.sides import SIDES

from .. import messages as msg
from ..commands import AssignmentRequest, Command, Prompt, ScoreRequest, SweepRequest, spec_for
from ..root import PathRefused
from ..widgets.perplexity_panel import PerplexityPanel

if TYPE_CHECKING:
    from .main import MainScreen


class SlashCommands:
    """Runs the commands typed (or picked in the palette) on ``screen``, the chat screen."""

    def __init__(self, screen: MainScreen) -> None:
        self.screen = screen

    def run(self, command: Command) -> None:
        screen, name, value = self.screen, command.name, command.value
        field = spec_for(name).field
        side = next((side for side in SIDES if side == name), None)
        if field is not None:
            screen.set_param(field, value)
        elif name == "seed" and (value is None or isinstance(value, int)):
            screen.pin_seed(value)
        elif name == "model":
            self.open_model(str(value))
        elif name == "run":
            self.open_run(str(value))
        elif side is not None:
            screen.post_message(msg.SideRequested(side))
        elif name == "ab":
            self.ab(value if isinstance(value, Prompt) else None)
        elif name in ("train", "help", "quit"):
            screen.call_later(screen.run_action, f"app.{name}")  # the same action as the key
        elif name == "eval":
            screen.query_one(PerplexityPanel).evaluate()
        elif name == "sweep" and isinstance(value, SweepRequest):
            self.open_sweep(value)
        elif name == "assignment" and isinstance(value, AssignmentRequest):
            self.open_assignment(value)
        elif name == "score" and isinstance(value, ScoreRequest):
            self.score(value)
        elif name == "source":
            screen.action_source()
        elif name == "save":
            self.save(value if isinstance(value, str) else None)
        elif name == "clear":
            self.clear()

    def open_model(self, given: str) -> None:
        """``/model SPEC``: the App opens it (a path in it confined to the app's root)."""
        try:
            spec = self.screen.owner.root.model_spec(given, "/model")
        except PathRefused as err:
            self.screen.show_error(str(err))
            return
        self.screen.post_message(msg.TargetRequested(None, spec))

    def open_run(self, given: str) -> None:
        """``/run RUN``: the App opens that run (its models, its data, its session)."""
        from tweetsmith.engine.runs import is_run_dir

        try:
            run = self.screen.owner.root.path(given, "/run")
        except PathRefused as err:
            self.screen.show_error(str(err))
            return
        if not is_run_dir(run):
            self.screen.show_error(f"{run}: not a run directory (no config.json); train one with ctrl+t")
            return
        self.screen.post_message(msg.TargetRequested(run, None))

    def ab(self, prompt: Prompt | None) -> None:
        """``/ab [PROMPT]``: the prompt (else the last one) to base and tuned, side by side."""
        prompt = prompt or self.screen.last_prompt
        if prompt is None:
            self.screen.show_error("/ab needs a prompt the first time: /ab paulg: The best")
            return
        self.screen.start_ab(prompt)

    def score(self, request: ScoreRequest) -> None:
        """``/score TEXT``: the text's tokens under each loaded side, as a card in the chat."""
        screen = self.screen
        author = request.author if request.author is not None else screen.current_author
        why_not = screen.chat.score(author, request.text)
        if why_not:
            screen.show_error(why_not)

    def open_sweep(self, request: SweepRequest) -> None:
        from .sweep import SweepScreen

        screen = self.screen
        if screen.owner.workspace.model is None:
            screen.show_error("the model is still loading; try again in a moment")
            return
        authors = screen.owner.workspace.authors
        author = screen.current_author or (authors[0] if authors else "")
        screen.app.push_screen(SweepScreen(screen.owner, request, author, screen.sampling))

    def open_assignment(self, request: AssignmentRequest) -> None:
        from .assignment import AssignmentScreen, confined_request

        screen = self.screen
        if "base" not in screen.owner.workspace.models:
            screen.show_error("the model is still loading; try again in a moment")
            return
        try:
            request = confined_request(request, screen.owner.root)
        except PathRefused as err:
            screen.show_error(str(err))
            return
        screen.app.push_screen(AssignmentScreen(screen.owner, request, screen.sampling))

    def save(self, path: str | None) -> None:
        """``/save [PATH]``: the chat as markdown (``tui.export.save_chat``); a refusal shows under the input."""
        from ..export import save_chat

        screen = self.screen
        title = f"tweetsmith chat · {screen.header.model_name}"
        try:
            note = save_chat(screen.chat.session, path, screen.owner.root, screen.owner.workspace.run_dir, title)
        except PathRefused as err:
            screen.show_error(str(err))
            return
        screen.notify(note)

    def clear(self) -> None:
        """``/clear``: an empty chat; its session is archived beside it."""
        screen = self.screen
        archived = screen.chat.clear_session()
        screen.update_diversity()
        if archived is not None:
            screen.notify(f"cleared; the old session is kept in {archived}")
