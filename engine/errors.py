"""User-facing failures of the engine: each message names the problem and the fix.

The CLI turns these into one line on stderr and exit code 2; the app turns them into a notification.
Anything else raised by the engine is a bug and may show a traceback. ``TweetsmithError`` (from
data/errors.py, so the data room shares it without importing the engine) is the base of these and of
``DataError``: catch it to catch every error of the project's own.
"""

from tweetsmith.data.errors import TweetsmithError

__all__ = ["TweetsmithError", "EngineError", "ModelError", "ConfigError", "TrainingError"]


class EngineError(TweetsmithError):
    """Base of the engine's user-facing errors."""


class ModelError(EngineError):
    """A model spec that can't be resolved or loaded."""


class ConfigError(EngineError):
    """A parameter outside its valid range."""


class TrainingError(EngineError):
    """Training can't start or go on (bad data dir, out of memory, full disk)."""
