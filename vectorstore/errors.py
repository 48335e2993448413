"""The errors newsqa raises on purpose, under one root.

An entry point (the CLI, the UI) turns a `NewsQAError` into one clear line for the user; any
other exception is a bug and keeps its traceback. The root lives here, in the lowest layer,
so both `vectorstore` and `qa` (whose own errors are in `qa/errors.py`) raise its kinds.
"""

from __future__ import annotations


class NewsQAError(Exception):
    """Something the user or operator can fix; the message names the bad value and the fix."""


class StoreError(NewsQAError, RuntimeError):
    """The store cannot be opened or reached."""


class WrongDimension(StoreError):
    """The embedding model's vectors do not fit the collection's."""


class BadInput(NewsQAError, ValueError):
    """A document that cannot become an article; the message says why."""
