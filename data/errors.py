"""The project's error base, and the one exception type the data room raises for problems a user can fix.

``TweetsmithError`` lives here because data/ is the room every other one imports and it needs neither
torch nor textual: the engine's ``EngineError`` and this room's ``DataError`` both derive from it, so
the CLI and the app catch the project's own errors with one ``except TweetsmithError`` and show their
message, and treat anything else as a bug.
"""


class TweetsmithError(Exception):
    """A failure the user can fix; the message names the thing and the fix (no traceback needed)."""


class DataError(TweetsmithError):
    """Bad input data: the message names the file (and line or byte) and the fix."""
