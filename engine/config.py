"""Typed configs with a help string per field (see ``tweetsmith.data.options``); re-exported for engine code."""

from tweetsmith.data.options import field_help, option

__all__ = ["field_help", "option"]
