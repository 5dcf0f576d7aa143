"""Reading, cleaning and splitting datasets into the line format. Pure Python: never imports torch."""

from .errors import DataError
from .prepare import PrepareConfig, PrepareProgress, prepare
from .readers import detect_format, read_builtin, read_records
from .records import Record, format_line, parse_line, prompt_for, read_split, read_split_lines
from .stats import PrepareSummary

__all__ = [
    "DataError",
    "PrepareConfig",
    "PrepareProgress",
    "PrepareSummary",
    "Record",
    "detect_format",
    "format_line",
    "parse_line",
    "prepare",
    "prompt_for",
    "read_builtin",
    "read_records",
    "read_split",
    "read_split_lines",
]
