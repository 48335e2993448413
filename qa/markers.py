"""The [n] citation marker: one grammar, and the few ways the pipeline reads it.

A marker is `[n]` or a list `[n, m]` that names the prompt's numbered passages. The model writes
them (sometimes after the full stop, sometimes as lists); `verify` keeps only the numbers of real
passages, one per marker, so what the page and the history read is always `[n]`.
"""

from __future__ import annotations

import re

BODY = r"\d+(?:\s*,\s*\d+)*"  # "3" or "1, 4"
MARKER = re.compile(rf"\s*\[({BODY})\]")  # with the space before it: cut from a sentence
BARE = re.compile(rf"\[{BODY}\]")  # the marker alone: blanked when text is scored
TRAILING = re.compile(rf"([.!?])\s*((?:\[{BODY}\]\s*)+)")  # "... sentence. [1][2]"
ONE = re.compile(r"\[(\d+)\]")  # a verified answer's single-number marker
_SPACED_ONE = re.compile(r"\s*\[\d+\]")


def numbers(text: str) -> list[int]:
    """Every passage number the markers in `text` name, in order."""
    return [int(n) for group in MARKER.findall(text) for n in group.split(",")]


def unmarked(text) -> str:
    """`text` without its verified `[n]` markers (and the space before each).

    For the conversation a question is rewritten from: a small model copies an answer's markers
    into its rewrite, which then searches for them.
    """
    return _SPACED_ONE.sub("", str(text or ""))
