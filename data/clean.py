"""Cleaning records: repair mojibake and HTML entities, drop retweets, replies and empty records, strip
URLs, one line per record.

Every step can be switched off (CleanOptions), except one: a record always becomes ONE line, because
the line format has no other way to end a record. Dropped records are counted by reason, and the
records each step changed are counted by step (``CHANGE_STEPS``), so a report can say what cleaning did.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from .records import Record

# Why a record was dropped; the summary reports a count for each (the readers count the first two,
# the splitter the duplicates).
SKIP_REASONS = ("too_long", "no_text", "retweet", "reply", "empty", "duplicate")
# The steps that change a kept record's text, in the order they run; the summary counts records per step.
CHANGE_STEPS = ("mojibake", "html_entities", "urls", "whitespace")

# A URL runs to whitespace or a closing bracket/quote, so "(see http://t.co/x)" keeps its ")".
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'()\[\]{}“”‘’]*")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]")
# Everything str.splitlines() treats as a line end: any of them would split a record in two somewhere.
_LINE_BREAKS = str.maketrans({c: " " for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})
# Authors are tokens: no whitespace (the line format ends the author at "- "), no "-" or "\\".
_AUTHOR_JUNK = re.compile(r"[\s\\\-]+")
# Half a UTF-16 pair: JSON may hold one ("\ud800"), so may UTF-7 or unicode_escape input and a command
# line's undecodable bytes. No UTF-8 file can: each becomes U+FFFD, the replacement character.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class CleanOptions:
    fix_mojibake: bool = True
    keep_retweets: bool = False
    keep_replies: bool = False
    keep_urls: bool = False
    unescape: bool = True
    normalize_space: bool = True


def author_token(name: str) -> str:
    """A name as a valid author token: "@PaulG" -> "PaulG", "Van Buren" -> "Van_Buren"."""
    return _AUTHOR_JUNK.sub("_", valid_unicode(name).strip().lstrip("@")).strip("_")


def valid_unicode(text: str) -> str:
    """``text`` with any lone surrogate replaced by U+FFFD, so it can be written as UTF-8."""
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


def fix_mojibake(text: str) -> str:
    """UTF-8 read as Windows-1252 and the like, repaired ("donâ€™t" -> "don’t"), with ftfy's encoding fixer
    only: curly quotes, ligatures and widths stay as the author typed them. ASCII text is never mojibake."""
    if text.isascii():
        return text
    import ftfy

    return ftfy.fix_encoding(text)


def remove_urls(text: str) -> str:
    if "http" not in text and "www." not in text:  # the regex costs more than this test
        return text
    return _EMPTY_BRACKETS.sub("", _URL.sub("", text))


class Cleaner:
    """Cleans records one at a time; ``skipped`` counts the dropped ones by reason.

    Duplicates are not this class's business: finding them needs the whole dataset, and the splitter
    (data.split) already sorts every record into a bucket where its duplicates land too.
    """

    def __init__(self, options: CleanOptions = CleanOptions()):
        self.options = options
        self.skipped = dict.fromkeys(SKIP_REASONS, 0)
        self.changed = dict.fromkeys(CHANGE_STEPS, 0)
        self._authors: dict[str, str] = {}

    def clean(self, record: Record) -> Record | None:
        """The cleaned record, or None when it is dropped (and counted)."""
        options = self.options
        text = valid_unicode(record.text)
        changed: list[str] = []  # counted only for records that are kept
        if options.fix_mojibake:
            text = self._step(text, fix_mojibake(text), "mojibake", changed)
        if options.unescape and "&" in text:
            text = self._step(text, html.unescape(text), "html_entities", changed)
        head = text.lstrip()
        if not options.keep_retweets and head.startswith("RT @"):
            self.skipped["retweet"] += 1
            return None
        if not options.keep_replies and head.startswith("@"):
            self.skipped["reply"] += 1
            return None
        if not options.keep_urls:
            text = self._step(text, remove_urls(text), "urls", changed)
        one_line = " ".join(text.split()) if options.normalize_space else text.translate(_LINE_BREAKS)
        text = self._step(text, one_line, "whitespace", changed)
        if not text.strip():
            self.skipped["empty"] += 1
            return None
        for step in changed:
            self.changed[step] += 1
        author = self._authors.get(record.author)
        if author is None:
            if len(self._authors) > 100_000:  # a cache, not a registry: a million authors must not pile up
                self._authors.clear()
            author = self._authors[record.author] = author_token(record.author)
        return Record(author, text)

    @staticmethod
    def _step(before: str, after: str, step: str, changed: list[str]) -> str:
        if after != before:
            changed.append(step)
        return after
