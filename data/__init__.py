"""Reading, cleaning and splitting datasets into the line format. Pure Python: never imports torch."""

from .errors import DataError
from .records import Record, format_line, parse_line, prompt_for, read_split, read_split_lines

__all__ = ["DataError", "Record", "format_line", "parse_line", "prompt_for", "read_split", "read_split_lines"]
