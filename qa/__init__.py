"""newsqa: ask questions of news articles, get short answers that cite them.

>>> from qa import ask
>>> print(ask("What did Tesla agree with Baidu?"))
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .settings import Settings, get_settings

if TYPE_CHECKING:
    from vectorstore.types import Filters

    from .chain import History, NewsQA
    from .types import Answer, Citation, Source

# Loaded on first use, so `newsqa --help` does not import chromadb, langchain and trafilatura.
_LAZY = {
    "NewsQA": ".chain",
    "History": ".chain",
    "Answer": ".types",
    "Citation": ".types",
    "Source": ".types",
    "Filters": "vectorstore.types",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'qa' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Answer",
    "Citation",
    "Filters",
    "NewsQA",
    "Settings",
    "Source",
    "ask",
    "ask_stream",
    "get_settings",
    "open_qa",
]

_instances: dict[str, NewsQA] = {}


def open_qa(settings: Settings | dict | None = None) -> NewsQA:
    """A NewsQA for these settings, created once and reused (models load once per process)."""
    resolved = get_settings(settings)
    key = json.dumps(resolved.model_dump(mode="json"), sort_keys=True)
    if key not in _instances:
        from .chain import NewsQA

        _instances[key] = NewsQA(resolved)
    return _instances[key]


def ask(
    question: str,
    *,
    history: History = None,
    filters: Filters | dict | None = None,
    settings: Settings | dict | None = None,
    question_date: str | None = None,
    kind: str | None = None,
) -> Answer:
    """Answer from the stored articles, citing them; `refused=True` when they don't say.

    `kind` forces a short answer ("fact") or a paragraph across articles ("summary", "timeline",
    "comparison"); None reads it from the question's wording (qa/route.py).
    """
    return open_qa(settings).ask(
        question, history=history, filters=filters, question_date=question_date, kind=kind
    )


def ask_stream(
    question: str,
    *,
    history: History = None,
    filters: Filters | dict | None = None,
    settings: Settings | dict | None = None,
    question_date: str | None = None,
    kind: str | None = None,
) -> Iterator[Answer]:
    """Like `ask`, yielding partial answers while the model writes, then the verified one."""
    return open_qa(settings).ask_stream(
        question, history=history, filters=filters, question_date=question_date, kind=kind
    )
