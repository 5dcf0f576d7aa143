"""Where the app may read and write: anywhere (the terminal app), or only under its root.

``tweetsmith serve`` gives every app it starts a root (``--root``, default the directory serve was started
in), because whoever has the page types paths that the server's user then reads and writes: ``/save
~/.bashrc`` would plant the chat's text in that user's shell. So every path a user gives (slash commands,
the training form, ``/assignment``) goes through ``Root.path`` or ``Root.model_spec`` here, the only
check: ``~`` expanded, a relative path taken from the root, ``..`` and symlinks resolved
(``os.path.realpath``), and refused with one line unless what it names lies inside the root.
``tweetsmith tui --root DIR`` gives the terminal app the same confinement; without one, paths are the
user's, as in a shell.

The paths the app is started with (``--run``, ``--data``, ``--model``) are its operator's and are not
checked; nor are the app's own files (the cache in ``$TWEETSMITH_HOME``, the log, the Hugging Face cache).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tweetsmith.data.errors import TweetsmithError


class PathRefused(TweetsmithError):
    """A path the app may not use: outside its root, or not a usable path at all. One line, with the fix."""


def _one_line(text: str | Path) -> str:
    return " ".join(str(text).splitlines())


@dataclass(frozen=True)
class Root:
    """``directory`` None: no confinement. Otherwise an absolute, resolved directory (build with ``Root.at``)."""

    directory: Path | None = None

    @classmethod
    def at(cls, directory: str | Path) -> Root:
        """The root ``directory`` (relative: from the current directory), which must exist."""
        resolved = Path(os.path.realpath(Path(directory).expanduser()))
        if not resolved.is_dir():
            raise PathRefused(
                f"--root {_one_line(directory)}: no such directory; give an existing directory "
                "(the app reads and writes only under it)"
            )
        return cls(resolved)

    @property
    def confined(self) -> bool:
        return self.directory is not None

    def path(self, given: str | Path, what: str) -> Path:
        """``given`` as the path the app should use; ``PathRefused`` when it leaves the root. ``what`` names
        where it came from in the refusal (``/save``, ``data``)."""
        try:
            path = Path(given).expanduser()
        except RuntimeError:  # "~nosuchuser/x"
            raise PathRefused(
                f"{what}: {_one_line(given)!r} names the home of an unknown user; give another path"
            ) from None
        if self.directory is None:
            return path
        if "\x00" in str(path):
            raise PathRefused(f"{what}: {_one_line(given)!r} is not a usable path; give a path inside {self.directory}")
        resolved = Path(os.path.realpath(self.directory / path))  # an absolute path replaces the root here
        if resolved != self.directory and self.directory not in resolved.parents:
            raise PathRefused(
                f"{what}: {_one_line(given)} is outside {self.directory}, the only folder this app "
                "may use; give a path inside it (relative paths start there)"
            )
        return resolved

    def model_spec(self, spec: str, what: str) -> str:
        """A model spec with any path in it confined: a hub id (``gpt2``, ``org/name``) or a known name
        passes as it is; a path (one that exists under the root, or looks like one: ``./``, ``/``, ``~``,
        ``..``, ``.gguf``) must lie inside the root and is returned absolute."""
        if self.directory is None:
            return spec
        looks_like_path = (
            spec.startswith((".", "/", "~"))
            or spec.endswith(".gguf")
            or ".." in Path(spec).parts
            or "\x00" in spec
            or os.path.lexists(self.directory / spec)
        )
        return str(self.path(spec, what)) if looks_like_path else spec
