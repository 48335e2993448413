"""Every error newsqa raises on purpose, under `NewsQAError`.

The entry points turn these into one clear line (the CLI) or a message on the page (the UI);
any other exception is a bug and keeps its traceback. The store's kinds come from the lowest
layer, `vectorstore/errors.py`, and are re-exported here so callers need one import.
"""

from __future__ import annotations

from vectorstore.errors import BadInput, NewsQAError, StoreError, WrongDimension

__all__ = [
    "BadInput",
    "EmptyStore",
    "InvalidQuestion",
    "InvalidSettings",
    "ModelError",
    "NewsQAError",
    "QueueFull",
    "StoreError",
    "WrongDimension",
]


class ModelError(NewsQAError, RuntimeError):
    """The chat model cannot be loaded or reached."""


class EmptyStore(NewsQAError, RuntimeError):
    """Nothing is stored yet, so nothing can be answered."""


class InvalidQuestion(NewsQAError, ValueError):
    """The question cannot be asked as given (empty, too long)."""


class InvalidSettings(NewsQAError, ValueError):
    """A setting is unknown or has a value it cannot take; the message names it."""


class QueueFull(NewsQAError, RuntimeError):
    """As many answers are waiting as the server allows; `waiting` says how many."""

    def __init__(self, waiting: int) -> None:
        super().__init__(f"{waiting} questions are waiting for the model")
        self.waiting = waiting
