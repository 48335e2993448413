"""What the page sends, checked before anything runs (filters, question, chat history, each
within the `ui` settings' limits), and errors turned into messages that show no server path."""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Iterable
from datetime import date

import gradio as gr

from ..settings import UISettings

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_filters(
    outlets: list[str] | None,
    date_from: str | None,
    date_to: str | None,
    limits: UISettings | None = None,
) -> dict | None:
    """UI filter values -> NewsQA filters; raises gr.Error naming a bad date or outlet list.

    /ask takes them as JSON from anyone, so types are checked too: a number or a {"$ne": ...}
    where a name belongs would otherwise reach Chroma's where clause.
    """
    limits = limits or UISettings()
    outlets = _outlets(outlets, limits)
    dates = {}
    for label, key, value in (("From", "date_from", date_from), ("To", "date_to", date_to)):
        if value is None or value == "":
            continue
        text = value.strip() if isinstance(value, str) else ""
        try:
            if not _DATE.match(text):
                raise ValueError(text)
            date.fromisoformat(text)
        except ValueError:
            # A string as Python quotes it (as before); anything else as the JSON it came as.
            shown = repr(_clip(value)) if isinstance(value, str) else _clip(_json(value))
            raise gr.Error(
                f"The '{label}' date {shown} is not a date: use YYYY-MM-DD, for example 2024-04-29."
            ) from None
        dates[key] = text
    if len(dates) == 2 and dates["date_from"] > dates["date_to"]:
        raise gr.Error(
            f"The 'From' date {dates['date_from']} is after the 'To' date {dates['date_to']}."
        )
    filters = {"sources": outlets} if outlets else {}
    return {**filters, **dates} or None


def _outlets(outlets, limits: UISettings) -> list[str]:
    """The outlet filter as a list of names within the limits; gr.Error otherwise."""
    if not outlets:
        return []
    if not isinstance(outlets, list | tuple) or not all(isinstance(o, str) for o in outlets):
        raise gr.Error(
            'The filter\'s sources must be a list of outlet names, for example ["Metro Wire"].'
        )
    if len(outlets) > limits.max_outlets:
        raise gr.Error(
            f"The filter names {len(outlets):,} outlets; the limit is {limits.max_outlets:,}."
        )
    longest = max(len(o) for o in outlets)
    if longest > limits.max_outlet_chars:
        raise gr.Error(
            f"The filter has an outlet name of {longest:,} characters; the limit is "
            f"{limits.max_outlet_chars:,}."
        )
    return list(outlets)


def check_question(question, limits: UISettings) -> str:
    """The question, stripped; gr.Error if it is empty or longer than the limit."""
    if not isinstance(question, str) or not question.strip():
        raise gr.Error("Type a question first.")
    if len(question) > limits.max_question_chars:
        raise gr.Error(
            f"The question is {len(question):,} characters long; the limit is "
            f"{limits.max_question_chars:,}: shorten it."
        )
    return question.strip()


def check_history(history: list | None, limits: UISettings) -> list[dict]:
    """An /ask caller's conversation, checked: role/content messages within the limits."""
    history = history or []
    if len(history) > limits.max_history_messages:
        raise gr.Error(
            f"The history has {len(history):,} messages; the limit is "
            f"{limits.max_history_messages}: send the last ones only."
        )
    for message in history:
        if not (
            isinstance(message, dict)
            and message.get("role") in ("user", "assistant")
            and isinstance(message.get("content"), str)
        ):
            raise gr.Error(
                'Each message in history_json must be {"role": "user" or "assistant", '
                '"content": "..."}.'
            )
    chars = sum(len(m["content"]) for m in history)
    if chars > limits.max_history_chars:
        raise gr.Error(
            f"The history is {chars:,} characters long; the limit is "
            f"{limits.max_history_chars:,}: send the last messages only."
        )
    return history


def recent(history: list | None, limits: UISettings) -> list[dict]:
    """The chat's last messages within the limits: a long conversation forgets its oldest turns
    (the question is rewritten from the last few anyway)."""
    kept = list(history or [])[-limits.max_history_messages :]
    while kept and chars(kept) > limits.max_history_chars:
        kept = kept[2:]  # a turn is a question and its answer
    return kept


def chars(messages: list) -> int:
    return sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict))


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


SERVER_PATH = "[server path]"
# An absolute path (/..., ~/..., C:\...) not inside a URL, a date or a word ("read/write"); a
# full stop or colon after it ends the sentence or clause.
_PATH_CHARS = r"[^\s'\"()<>,;|]*[^\s'\"()<>,;|.:]"
_PATH = re.compile(r"(?<![\w.:/\\~-])(?:~|[A-Za-z]:)?[/\\]" + _PATH_CHARS)


def withhold_paths(text: str, known: Iterable[str] = ()) -> str:
    """Text with the server's file paths replaced: a remote caller learns nothing of its disk.

    `known` paths are replaced whole first, as a path with a space would be cut in two.
    """
    for path in sorted(filter(None, known), key=len, reverse=True):
        text = re.sub(re.escape(path) + f"(?:{_PATH_CHARS})?", SERVER_PATH, text)
    return _PATH.sub(SERVER_PATH, text)


# Which side failed, by the innermost frame of a module known to belong to it.
_SIDES = (
    ("The article store", ("chromadb", "langchain_chroma", "vectorstore.store")),
    (
        "The language model",
        ("openai", "langchain_openai", "ollama", "langchain_ollama", "cyllama", "qa.models"),
    ),
)


def explain(exc: BaseException, failed: str = "Could not answer", known: Iterable[str] = ()) -> str:
    """One line saying what failed (the store, the model, or else), for a gr.Error.

    Server paths in it are withheld (`withhold_paths`); the log has the whole error.
    """
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    first = chain[0]
    reason = (str(first).strip().splitlines() or [type(first).__name__])[0][:500]
    reason = withhold_paths(reason, known)
    modules = [
        f.f_globals.get("__name__") or ""
        for e in chain
        for f, _ in traceback.walk_tb(e.__traceback__)
    ]
    for module in reversed(modules):  # innermost first; a cause is deeper than its effect
        for side, prefixes in _SIDES:
            if module.startswith(prefixes):
                return f"{side} is unreachable or failed: {reason}"
    if isinstance(first, ConnectionError | TimeoutError):
        return f"The language model is unreachable or failed: {reason}"
    return f"{failed}: {reason}"
