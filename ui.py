"""The Gradio web UI: a chat that streams cited answers, filters, and an Articles tab to ingest.

    newsqa ui                          # http://127.0.0.1:7860 (python ui.py: the same command)
    newsqa ui --host 0.0.0.0 --auth-file logins.txt   # USER:PASSWORD lines

A thin skin over `NewsQA`: every answer, citation and ingestion result comes from it; this module
only renders them. Article text is written by strangers, so everything taken from an article is
HTML-escaped before it is rendered, and only http(s) URLs become links. What a caller sends is
checked against the limits in settings' `ui` section; webguard.py guards the server itself.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import argparse
import asyncio
import html
import ipaddress
import json
import logging
import re
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import gradio as gr

from qa import cli
from qa.chain import NewsQA
from qa.errors import InvalidSettings, QueueFull
from qa.markers import ONE
from qa.model_queue import Ticket
from qa.retrieve import question_date_for
from qa.settings import Settings, UISettings
from qa.types import Answer, Source, web_url
from webguard import WILDCARDS, HostCheck, Logins, allowed_hosts, hostname

log = logging.getLogger("newsqa.ui")

EXAMPLES = [
    "What did Tesla agree with Baidu?",
    "How much did the appeals court award to the Elm Row tenants?",
    "What was Cascade Freight's second-quarter revenue?",
    "Who was named most valuable player of the Coastal Basketball League final?",
]
REPORT_HEADERS = ["Item", "Title", "Result", "Details"]
ARTICLE_HEADERS = ["Title", "Outlet", "Published", "Chunks", "URL"]
CONTEXT_CHARS = 280  # passage text shown either side of a highlighted quote

# System fonts only: a GoogleFont would make every page view fetch from Google.
THEME = gr.themes.Soft(
    primary_hue="indigo",
    neutral_hue="slate",
    font=["system-ui", "sans-serif"],
    font_mono=["ui-monospace", "monospace"],
)
CSS = """
.nq-answer { line-height: 1.6; }
.nq-short { font-size: 1.15em; margin-bottom: .25em; }
#chat .examples { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: .7em;
  max-width: 760px; margin: 0 auto; }
#chat button.example { border: 1px solid var(--border-color-primary); border-radius: 10px;
  background: var(--background-fill-secondary); padding: .75em 1em; text-align: left; }
#chat button.example:hover { border-color: var(--color-accent); }
.nq-answer a.nq-cite { font-size: .8em; font-weight: 700; vertical-align: super;
  line-height: 0; text-decoration: none !important; padding: .1em .3em; margin-left: .15em;
  border-radius: 5px; color: var(--color-accent); background: var(--color-accent-soft); }
.nq-searched { color: var(--body-text-color-subdued); font-size: .82em; margin-top: .4em; }
details.nq-sources, details.nq-other { margin-top: .8em; padding-top: .5em;
  border-top: 1px solid var(--border-color-primary); }
details.nq-sources > summary, details.nq-other > summary { cursor: pointer; font-weight: 600;
  font-size: .88em; color: var(--body-text-color-subdued); }
.nq-source { margin: .6em 0; padding: .6em .85em; border-radius: 8px;
  border-left: 3px solid var(--color-accent); background: var(--background-fill-secondary); }
.nq-other .nq-source { border-left-color: var(--border-color-primary); }
.nq-source:target { box-shadow: 0 0 0 2px var(--color-accent); }
.nq-head { font-weight: 600; }
.nq-num { color: var(--color-accent); margin-right: .3em; }
.nq-meta { color: var(--body-text-color-subdued); font-size: .82em; margin-top: .1em; }
.nq-origin { font-style: italic; }
.nq-passage { font-size: .9em; margin-top: .45em; line-height: 1.55; }
.nq-passage mark { background: #fde68a; color: #111827; padding: .05em .15em; border-radius: 3px; }
.nq-refusal { padding: .55em .8em; border-radius: 8px; border-left: 3px solid #d97706;
  background: rgba(217, 119, 6, .09); }
.nq-refusal-icon { margin-right: .35em; }
.nq-hint { color: var(--body-text-color-subdued); font-size: .85em; margin-top: .25em; }
.nq-cursor { opacity: .6; }
.nq-queue { color: var(--body-text-color-subdued); font-size: .92em; }
"""

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Every line break Python or JavaScript knows: the chat's markdown parser reads "\r" as one, and
# a streamed "\r\r![x](http://...)" ended our HTML block and became an image the browser fetched.
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


# --- rendering ------------------------------------------------------------------------------------
def esc(text: str | None) -> str:
    """Text -> HTML: escaped, line breaks as <br> (a blank line would end the HTML block)."""
    return _LINE_BREAK.sub("<br>", html.escape(text or "", quote=True))


def link(url: str | None, text: str) -> str:
    href = web_url(url)
    if not href:
        return esc(text)
    return (
        f'<a href="{html.escape(href, quote=True)}" target="_blank" '
        f'rel="noopener noreferrer nofollow">{esc(text)}</a>'
    )


def highlight(passage: str, quote: str) -> str:
    """The passage around the quote, escaped, with the quote in <mark>."""
    passage = " ".join(passage.split())
    words = quote.split()
    found = re.search(r"\s+".join(map(re.escape, words)), passage) if words else None
    if not found:
        return f"<mark>{esc(' '.join(words))}</mark>" if words else esc(_trim(passage, 480, "end"))
    before = _trim(passage[: found.start()], CONTEXT_CHARS, "start")
    after = _trim(passage[found.end() :], CONTEXT_CHARS, "end")
    return f"{esc(before)}<mark>{esc(found.group(0))}</mark>{esc(after)}"


def _trim(text: str, limit: int, keep: str) -> str:
    """Text cut to about `limit` characters at a word boundary, keeping its start or end."""
    if len(text) <= limit:
        return text
    if keep == "end":  # keep the part next to the quote, which follows it
        return text[:limit].rsplit(" ", 1)[0] + " …"
    return "… " + text[-limit:].split(" ", 1)[-1]


def _source_card(src: Source, body: str, number: int | None = None, anchor: str = "") -> str:
    meta = " · ".join(
        esc(x) for x in (src.source, src.published, urlsplit(web_url(src.url) or "").netloc) if x
    )
    # What produced the article: an upload's outlet and link are only what the upload claims.
    meta += f'<div class="nq-origin">{esc(src.origin_label())}</div>'
    num = f'<span class="nq-num">[{number}]</span>' if number else ""
    id_attr = f' id="{anchor}"' if anchor else ""
    return (
        f'<div class="nq-source"{id_attr}><div class="nq-head">{num}'
        f"{link(src.url, src.title or 'Untitled')}</div>"
        f'<div class="nq-meta">{meta}</div><div class="nq-passage">{body}</div></div>'
    )


def render_partial(text: str) -> str:
    """An answer still being written."""
    return f'<div class="nq-answer">{esc(text)}<span class="nq-cursor"> ▍</span></div>'


def render_waiting(ahead: int, eta: float | None) -> str:
    """Where a question is in the local model's queue, and about how long until its turn."""
    if ahead == 0:
        line = "Your turn: the model is answering your question."
    else:
        wait = f"about {about(eta)}" if eta is not None else "the wait is not known yet"
        line = f"In line for the model: {questions(ahead)} ahead of yours, {wait}."
    return f'<div class="nq-queue">{esc(line)}</div>'


def questions(n: int) -> str:
    return f"{n} question{'s' * (n != 1)}"


def about(seconds: float) -> str:
    """A wait in whole seconds, or minutes past 100 s: "40 s", "3 min"."""
    return f"{max(1, round(seconds))} s" if seconds < 99.5 else f"{round(seconds / 60)} min"


def render_answer(answer: Answer, turn: str | None = None, filtered: bool = False) -> str:
    """A final answer: text with linked [n] markers, its cited sources, the other passages.

    Cited sources are renumbered 1, 2, ... in the order the answer cites them; `turn` makes the
    anchors unique within the chat.
    """
    turn = turn or uuid.uuid4().hex[:8]
    searched = (
        f'<div class="nq-searched">Searched for: {esc(answer.standalone_question)}</div>'
        if answer.standalone_question
        else ""
    )
    if answer.refused or not answer.citations:
        hint = (
            "Try rephrasing, or widen the outlet and date filters."
            if filtered
            else "Try rephrasing, or add articles that cover it in the Articles tab."
        )
        return (
            f'<div class="nq-refusal"><span class="nq-refusal-icon">⊘</span>'
            f'{esc(answer.text)}<div class="nq-hint">{hint}</div></div>{searched}'
        )
    by_n = {s.n: s for s in answer.sources}
    cited = {c.n: c for c in answer.citations if c.n in by_n}
    order = [n for n in dict.fromkeys(int(m) for m in ONE.findall(answer.text)) if n in cited]
    order += [n for n in sorted(cited) if n not in order]
    number = {n: i for i, n in enumerate(order, start=1)}

    def cite(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in number:
            return m.group(0)
        src = by_n[n]
        return (
            f'<a class="nq-cite" href="#nq-{turn}-{number[n]}" title="{esc(src.title)}">'
            f"[{number[n]}]</a>"
        )

    text = ONE.sub(cite, esc(answer.text))
    cards = "".join(
        _source_card(
            by_n[n], highlight(by_n[n].text, cited[n].quote), number[n], f"nq-{turn}-{number[n]}"
        )
        for n in order
    )
    short = (
        f'<div class="nq-short"><strong>{esc(answer.short_answer)}</strong></div>'
        if answer.short_answer
        else ""
    )
    parts = [
        f'<div class="nq-answer">{short}{text}</div>',
        searched,
        f'<details class="nq-sources" open><summary>Sources ({len(order)})</summary>'
        f"{cards}</details>",
    ]
    others = [s for s in answer.sources if s.n not in cited]
    if others:
        cards = "".join(
            _source_card(s, esc(_trim(" ".join(s.text.split()), 480, "end"))) for s in others
        )
        parts.append(
            f'<details class="nq-other"><summary>Other retrieved passages '
            f"({len(others)})</summary>{cards}</details>"
        )
    return "".join(parts)


# --- input checks and error messages --------------------------------------------------------------
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
    while kept and _chars(kept) > limits.max_history_chars:
        kept = kept[2:]  # a turn is a question and its answer
    return kept


def _chars(messages: list) -> int:
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


# --- handlers -------------------------------------------------------------------------------------
class _Budget:
    """The limits of one click of Ingest, shared by the items it ingests one at a time.

    `NewsQA.ingest` holds its URL count and deadline per call; the UI calls it once per item (for a
    row per item), so without this 500 pasted URLs would be 500 calls of 20 URLs and 120 s each.
    """

    def __init__(self, settings) -> None:
        self.max_urls, self.deadline = (
            settings.store.max_urls_per_request,
            settings.store.ingest_deadline,
        )
        self.max_bytes = settings.ui.max_upload_bytes
        self.urls, self.bytes = 0, 0
        self.stop_at = time.monotonic() + self.deadline

    def seconds_left(self) -> float:
        return max(0.001, self.stop_at - time.monotonic())

    def refusal(self, source: str, typed: bool) -> str | None:
        """Why the item is skipped, or None (and it is counted)."""
        if time.monotonic() >= self.stop_at:
            return f"skipped: the ingestion reached its {self.deadline:g} s limit"
        if typed:
            self.urls += 1
            if self.urls > self.max_urls:
                return f"skipped: one ingestion fetches at most {self.max_urls} URLs"
            return None
        try:
            size = Path(source).stat().st_size
        except OSError:
            return None  # the loader says what is wrong with it
        if self.bytes + size > self.max_bytes:
            limit = f"{self.max_bytes / 1e6:g} MB"
            return f"skipped: one ingestion reads at most {limit} of uploaded files"
        self.bytes += size
        return None


class Handlers:
    """The functions behind the UI's events; NewsQA does the work, these only translate."""

    queue_poll = 1.0  # seconds between a waiting user's queue updates (and checks they left)

    def __init__(self, qa: NewsQA, uploads: Path | None = None) -> None:
        self.qa = qa
        # Gradio's upload folder: a file there is a copy made for us, ours to delete.
        self.uploads = Path(uploads or gr.utils.get_upload_folder()).resolve()
        self.limits = qa.settings.ui
        # The server's own folders, withheld from error messages whole (they may hold spaces).
        s = qa.settings
        known = (s.store.path, s.cache_dir, s.llm.model_path, tempfile.gettempdir(), Path.home())
        self.paths = [str(p) for p in known if p]

    def respond(
        self,
        question: str,
        chat: list,
        history: list,
        outlets: list[str] | None = None,
        date_from: str = "",
        date_to: str = "",
    ):
        """Stream an answer into the chat: yields (textbox, chat, history, error) as it grows.

        A failure to answer gives the chat and the question back as they were, with `error` the
        one-line reason; `raise_error` turns that into a gr.Error in the next step (raised here,
        Gradio would cover the chat with an error badge). While the local model answers others,
        the answer's place shows the user's place in line and the wait (`render_waiting`).
        """
        self.check(question, outlets, date_from, date_to)
        question = question.strip()
        filters = parse_filters(outlets, date_from, date_to, self.limits)
        before = list(chat or [])
        if _chars(before) > self.limits.max_chat_chars:
            raise gr.Error(
                "This conversation is too long to go on: start a new one (New conversation)."
            )
        history = recent(history, self.limits)
        ticket = self._join()
        try:
            yield from self._stream(question, before, history, filters, ticket)
        finally:  # answered, failed, or the user left (Gradio closes this generator)
            self._leave(ticket)

    def _stream(self, question: str, before: list, history: list, filters, ticket):
        """`respond`'s outputs: the user's place in line while they wait, then the answer."""
        asked = [*before, {"role": "user", "content": question}]
        waited = False
        # Each update is also where Gradio notices that the user left, and closes `respond`.
        for line in self._queue_lines(ticket):
            waited = True
            yield "", [*asked, {"role": "assistant", "content": line}], history, None
        pending = render_waiting(0, 0.0) if waited else render_partial("")
        yield "", [*asked, {"role": "assistant", "content": pending}], history, None
        answer = None
        try:
            for answer in self.qa.ask_stream(
                question,
                history=history or None,
                filters=filters,
                question_date=question_date_for(question),
            ):
                if not answer.done:
                    partial = render_partial(answer.text)
                    yield "", [*asked, {"role": "assistant", "content": partial}], history, None
        except Exception as exc:
            # Its length, not the question: what people ask stays out of the server's log.
            log.exception("answering a question (%d characters) failed", len(question))
            self._leave(ticket)
            yield question, before, history, explain(exc, known=self.paths)
            return
        self._leave(ticket, answered=True)  # the next user's turn, before this one renders
        chat = [
            *asked,
            {"role": "assistant", "content": render_answer(answer, filtered=bool(filters))},
        ]
        history = recent(
            [
                *history,
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer.text},
            ],
            self.limits,
        )
        yield "", chat, history, None

    def _join(self) -> Ticket | None:
        """A place in the local model's queue (None for a model with no queue); busy if full."""
        queue = self.qa.model_queue
        if queue is None:
            return None
        try:
            return queue.join(max_waiting=self.limits.queue_size)
        except QueueFull as exc:
            raise gr.Error(
                f"Busy: {questions(exc.waiting)} waiting for the model, as many as this server "
                "queues (ui.queue_size); try again in a few minutes.",
                title="Busy",
            ) from None

    def _queue_lines(self, ticket: Ticket | None) -> Iterator[str]:
        """The waiting line to show, now and every `queue_poll` seconds, until the turn comes."""
        timeout = 0.0
        while ticket is not None and not self.qa.model_queue.wait(ticket, timeout):
            yield render_waiting(*self.qa.model_queue.status(ticket))
            timeout = self.queue_poll

    def _leave(self, ticket: Ticket | None, answered: bool = False) -> None:
        if ticket is not None:
            self.qa.model_queue.leave(ticket, answered)

    async def ask_api(self, question: str, history_json: str = "", filters: str = "") -> dict:
        """Answer a question from the stored articles, citing them.

        Args:
            question: the question.
            history_json: "" or the conversation so far as JSON: [{"role": "user", "content": ...},
                {"role": "assistant", "content": ...}, ...].
            filters: "" or JSON: {"sources": ["Metro Wire"], "date_from": "2024-01-01",
                "date_to": "2024-12-31"} (every key optional).

        Returns the answer as JSON: text, refused, citations (n, article_id, title, source,
        published, url, quote) and sources (every retrieved passage). While the local model
        answers others, waits at most ui.ask_wait seconds (default 120), then fails with an
        error titled "Busy" saying how many questions are ahead: retry later.
        """
        question = check_question(question, self.limits)
        history = check_history(_json_arg("history_json", history_json, list), self.limits)
        given = _json_arg("filters", filters, dict) or {}
        unknown = set(given) - {"sources", "date_from", "date_to"}
        if unknown:
            raise gr.Error(
                f"Unknown filter keys {sorted(unknown)}: use sources, date_from, date_to."
            )
        sources = given.get("sources")
        parsed = parse_filters(
            [sources] if isinstance(sources, str) else sources,
            given.get("date_from"),
            given.get("date_to"),
            self.limits,
        )
        ticket = self._join()
        try:
            await self._turn_within_limit(ticket)
        except BaseException:  # busy, or the caller cancelled: either way its place is free
            self._leave(ticket)
            raise
        # In a thread of its own, which leaves the queue when the answer is done, even if the
        # caller has gone: the model cannot be stopped mid-answer.
        return await asyncio.to_thread(self._answer, ticket, question, history, parsed)

    async def _turn_within_limit(self, ticket: Ticket | None) -> None:
        """Return at the ticket's turn; a "Busy" gr.Error after ui.ask_wait seconds in line."""
        give_up = time.monotonic() + self.limits.ask_wait
        while ticket is not None and not self.qa.model_queue.wait(ticket, 0):
            if time.monotonic() >= give_up:
                ahead, eta = self.qa.model_queue.status(ticket)
                retry = f"about {about(eta)}" if eta is not None else "a minute"
                raise gr.Error(
                    f"Busy: {questions(ahead)} still ahead of yours for the model after "
                    f"{self.limits.ask_wait:g} s (ui.ask_wait); retry in {retry}.",
                    title="Busy",
                )
            await asyncio.sleep(0.1)

    def _answer(self, ticket: Ticket | None, question: str, history: list, filters) -> dict:
        """The /ask answer as JSON, given in the ticket's turn, which it then frees."""
        answered = False
        try:
            answer = self.qa.ask(
                question,
                history=history or None,
                filters=filters,
                question_date=question_date_for(question),
            )
            answered = True
        except Exception as exc:
            log.exception("answering a question (%d characters) failed", len(question))
            raise gr.Error(explain(exc, known=self.paths)) from exc
        finally:
            self._leave(ticket, answered)
        return answer.to_json_dict()

    def check(self, question: str, outlets: list[str] | None, date_from: str, date_to: str) -> None:
        """Reject an empty or overlong question or bad filters before the chat changes."""
        check_question(question, self.limits)
        parse_filters(outlets, date_from, date_to, self.limits)

    def ingest(self, files: list | None, urls: str, progress=gr.Progress()):  # noqa: B008 (gradio's idiom)
        """Ingest uploads and URLs one by one: (status line, one report row per article)."""
        # Gradio keeps an upload's own file name as the last part of its temporary path.
        items = [(str(f), Path(str(f)).name, False) for f in files or []]
        lines = [u.strip() for u in (urls or "").splitlines()]
        items += [(u, u, True) for u in lines if u and not u.startswith("#")]
        if not items:
            raise gr.Error("Choose files to upload or paste URLs (one per line) first.")
        rows: list[list[str]] = []
        budget = _Budget(self.qa.settings)  # one click's limits, across the items one by one
        for i, (source, name, typed) in enumerate(items):
            progress((i, len(items)), desc=f"Ingesting {name}")
            if typed and not web_url(source):
                # Only web addresses here: a typed path would read the server's own files.
                rows.append(
                    [name, "", "failed", "not an http(s) URL; upload files with the file picker"]
                )
            elif skipped := budget.refusal(source, typed):
                rows.append([name, "", "failed", skipped])
            else:
                rows += self._ingest_one(source, name, budget.seconds_left())
        # Stored or not, an upload is done with; its copy would otherwise stay on disk for good.
        self._delete_uploads(source for source, _, typed in items if not typed)
        try:
            stored = {a["id"]: a for a in self.qa.articles()}
        except Exception as exc:  # the store failed part-way: the rows say what got in
            log.exception("listing the articles failed")
            stored = {}
            rows.append(["", "", "failed", explain(exc, "Could not list the articles", self.paths)])
        for row in rows:  # article ids -> titles and chunk counts; no server path shown
            row[3] = withhold_paths(row[3], self.paths)
            if row[1] in stored:
                article = stored[row[1]]
                row[1] = article["title"]
                row[3] = f"{article['chunks']} chunk{'s' * (article['chunks'] != 1)}"
        results = [r[2] for r in rows]
        counts = ", ".join(
            f"{results.count(k)} {k}" for k in ("added", "updated", "unchanged", "failed")
        )
        return f"**{len(items)} item{'s' * (len(items) != 1)} ingested:** {counts}.", rows

    def _delete_uploads(self, paths: Iterable[str]) -> None:
        """Delete uploaded files, and the folder Gradio made for each; never a file elsewhere."""
        for path in map(Path, paths):
            path = path.resolve()
            if not path.is_relative_to(self.uploads) or path == self.uploads:
                continue  # a caller's own file (a test, a script), not an upload
            try:
                path.unlink(missing_ok=True)
                if path.parent != self.uploads and not any(path.parent.iterdir()):
                    path.parent.rmdir()
            except OSError:
                log.warning("could not delete an upload", exc_info=True)

    def _ingest_one(self, source: str, name: str, seconds: float | None = None) -> list[list[str]]:
        """Report rows [item, article id, result, details] for one upload or URL."""
        try:
            report = self.qa.ingest([source], progress=False, untrusted=True, deadline=seconds)
        except Exception as exc:
            log.exception("ingesting %r failed", source)
            return [[name, "", "failed", explain(exc, "could not ingest it")]]
        rows = [
            [name, article_id, result, ""]
            for result in ("added", "updated", "unchanged")
            for article_id in getattr(report, result)
        ]
        for failure in report.failed:
            item = name if failure.item == source else failure.item.replace(source, name)
            rows.append([item, "", "failed", failure.reason.replace(source, name)])
        return rows or [[name, "", "failed", "no article found in it"]]

    def collection(self, selected: list[str] | None = None):
        """(outlet choices, overview line, article table) from one listing of the store."""
        try:
            articles = self.qa.articles()
        except Exception as exc:
            log.exception("listing the articles failed")
            message = explain(exc, "Could not list the articles", self.paths)
            raise gr.Error(ui_error(message)) from exc
        outlets = sorted({a["source"] for a in articles if a["source"]})
        overview = (
            f"Answers cite the articles they come from · {counted(articles, outlets)}"
            if articles
            else "The collection is empty: add articles in the **Articles** tab."
        )
        rows = [
            [a["title"], a["source"], a["published"], a["chunks"], a.get("url") or ""]
            for a in articles
        ]
        kept = [s for s in selected or [] if s in outlets]
        return gr.update(choices=outlets, value=kept), overview, rows


def _json_arg(name: str, value, kind: type):
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise gr.Error(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, kind):
        raise gr.Error(f"{name} must be a JSON {'list' if kind is list else 'object'}.")
    return value


# --- the app --------------------------------------------------------------------------------------
def build_app(qa: NewsQA, concurrency: int = 4) -> gr.Blocks:
    """The Gradio app over `qa`; `launch()` serves it (else pass theme=THEME, css=CSS)."""
    h = Handlers(qa)
    outlet_choices, overview_text, article_rows = h.collection()
    max_age = qa.settings.ui.upload_max_age
    # Uploads are deleted once ingested; this sweeps the ones never ingested (the page closed).
    with gr.Blocks(
        title="newsqa", analytics_enabled=False, delete_cache=(min(600, max_age), max_age)
    ) as demo:
        history = gr.State([])  # per session: the plain-text conversation NewsQA rewrites from
        error = gr.State(None)
        gr.Markdown("## newsqa · ask the news")
        overview = gr.Markdown(overview_text)
        with gr.Tab("Ask"), gr.Row(equal_height=False):
            with gr.Column(scale=4):
                chatbot = gr.Chatbot(
                    show_label=False,
                    height="62vh",
                    min_height=420,
                    elem_id="chat",
                    placeholder="**Ask a question about the stored news articles.**<br>"
                    "Every answer cites the articles it comes from.",
                    examples=[{"text": q} for q in EXAMPLES],
                    latex_delimiters=[],
                    sanitize_html=True,
                    allow_tags=False,
                    feedback_options=None,
                    buttons=[],
                )
                question = gr.Textbox(
                    placeholder="Ask a question, e.g. What did Tesla agree with Baidu?",
                    show_label=False,
                    autofocus=True,
                    submit_btn=True,
                    elem_id="question",
                    max_length=qa.settings.ui.max_question_chars,
                )
            with gr.Column(scale=1, min_width=240):
                with gr.Group():
                    outlets = gr.Dropdown(
                        outlet_choices["choices"],
                        value=[],
                        multiselect=True,
                        label="Outlets",
                        info="Answer only from these (all when empty)",
                    )
                    date_from = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD")
                    date_to = gr.Textbox(label="Published to", placeholder="YYYY-MM-DD")
                new_chat = gr.Button("New conversation", size="sm", variant="secondary")
        with gr.Tab("Articles"):
            with gr.Row():
                files = gr.File(
                    label="Upload articles (.txt, .md, .html, .json, .jsonl)",
                    file_count="multiple",
                    type="filepath",
                    elem_id="upload",
                )
                urls = gr.Textbox(
                    label="Article or RSS/Atom feed URLs, one per line",
                    lines=5,
                    placeholder="https://example.com/news/article.html",
                )
            ingest_btn = gr.Button("Ingest", variant="primary")
            status = gr.Markdown()
            report = gr.Dataframe(
                headers=REPORT_HEADERS,
                value=[],
                label="Ingestion results",
                datatype="str",
                interactive=False,
                wrap=True,
                elem_id="report",
                column_widths=["24%", "40%", "12%", "24%"],
            )
            articles = gr.Dataframe(
                headers=ARTICLE_HEADERS,
                value=article_rows,
                label="In the collection",
                datatype="str",
                interactive=False,
                wrap=True,
                max_height=480,
                column_widths=["42%", "17%", "12%", "8%", "21%"],
                elem_id="articles",
            )

        quiet = {"api_visibility": "private", "show_progress": "hidden"}
        # With the local model, answers wait in its queue, where each is shown its place, not in
        # Gradio's, where a chat would wait unseen; the queue refuses past ui.queue_size.
        answers = {"concurrency_limit": None} if qa.model_queue is not None else {}
        checked = {"fn": h.check, "inputs": [question, outlets, date_from, date_to], **quiet}
        chat = {
            "fn": h.respond,
            "inputs": [question, chatbot, history, outlets, date_from, date_to],
            "outputs": [question, chatbot, history, error],
            **quiet,
            **answers,
        }
        failed = {"fn": raise_error, "inputs": error, **quiet}
        question.submit(**checked).success(**chat).then(**failed)
        chatbot.example_select(_example_text, None, question, **quiet).then(**checked).success(
            **chat
        ).then(**failed)
        new_chat.click(lambda: ([], [], ""), None, [chatbot, history, question], **quiet)
        chatbot.clear(lambda: [], None, history, **quiet)
        collection = {
            "fn": h.collection,
            "inputs": outlets,
            "outputs": [outlets, overview, articles],
            **quiet,
        }
        ingest_btn.click(
            h.ingest,
            [files, urls],
            [status, report],
            concurrency_limit=1,
            concurrency_id="ingest",
            api_visibility="private",
        ).success(lambda: (None, ""), None, [files, urls], **quiet).then(**collection)
        demo.load(**collection)
        gr.api(h.ask_api, api_name="ask", **answers)
    # A bounded queue: past it a caller is told the server is busy, instead of waiting forever.
    demo.queue(default_concurrency_limit=concurrency, max_size=qa.settings.ui.queue_size)
    return demo


def counted(articles: list, outlets: list) -> str:
    """'1 article', '3 articles from 2 outlets': no 'from 0 outlets' for pasted pages."""
    text = f"{len(articles)} article" + ("" if len(articles) == 1 else "s")
    if outlets:
        text += f" from {len(outlets)} outlet" + ("" if len(outlets) == 1 else "s")
    return text


def raise_error(message: str | None) -> None:
    """The step after an answer: show its failure, if any, as a gr.Error."""
    if message:
        raise gr.Error(ui_error(message))


def ui_error(message: str) -> str:
    """A message for a gr.Error toast, which Gradio renders as (sanitised) HTML: show it as text."""
    return html.escape(message, quote=False)


def _example_text(evt: gr.SelectData) -> str:
    return evt.value["text"] if isinstance(evt.value, dict) else str(evt.value)


# --- serving --------------------------------------------------------------------------------------
AUTH_IN_PS = (
    "warning: --auth shows the password to anyone who can list processes (ps); "
    "use --auth-file PATH or NEWSQA_UI__AUTH instead"
)


def login_text(auth: str | None, auth_file: Path | None, settings: UISettings) -> str | None:
    """The USER:PASSWORD line(s) to require: --auth, else --auth-file, else ui.auth
    (NEWSQA_UI__AUTH), else ui.auth_file; None for no login."""
    if auth:
        return auth
    path = auth_file or (None if settings.auth else settings.auth_file)
    if path:
        try:
            return Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise InvalidSettings(f"cannot read the login file {path}: {reason}") from exc
    return settings.auth.get_secret_value() if settings.auth else None


def parse_auth(auth) -> list[tuple[str, str]] | Callable | None:
    """ "user:password" lines (# comments) -> [(user, password), ...]; callables pass through."""
    if auth is None or auth == "":
        return None
    if callable(auth):
        return auth
    if isinstance(auth, tuple):
        return [auth]
    if not isinstance(auth, str):
        return list(auth)
    logins = []
    for line in auth.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, password = line.strip().partition(":")
        if not (sep and user and password):
            raise InvalidSettings("a login must look like USER:PASSWORD")
        logins.append((user, password))
    if not logins:
        raise InvalidSettings("no USER:PASSWORD login in the login given")
    return logins


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def login_for(host: str, share: bool, auth, allow_no_auth: bool):
    """The login to require; InvalidSettings for an open server beyond loopback not asked for."""
    credentials = parse_auth(auth)
    if (share or not is_loopback(host)) and credentials is None and not allow_no_auth:
        where = "a public share link" if share else f"host {host}"
        raise InvalidSettings(
            f"refusing to serve {where} without a login: give one (--auth-file PATH, "
            "NEWSQA_UI__AUTH=USER:PASSWORD or --auth USER:PASSWORD), or pass --no-auth if anyone "
            "who can reach it may use it"
        )
    return credentials


def launch(
    qa: NewsQA,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth=None,
    share: bool = False,
    *,
    allow_no_auth: bool = False,
    **launch_kwargs,
) -> gr.Blocks | None:
    """Serve the UI; blocks until stopped, unless `prevent_thread_lock=True` (then returns the app).

    Off the loopback interface, or with `share`, a login (`auth="user:password"`, default
    ui.auth or ui.auth_file) is required unless `allow_no_auth=True` says an open server is
    intended; repeated wrong passwords lock a client out (`webguard.Logins`). Only requests for
    the server's own host names are answered (`webguard.HostCheck`; more in ui.allowed_hosts).
    Other keyword arguments go to `gr.Blocks.launch`.
    """
    limits = qa.settings.ui
    if auth is None:
        auth = login_text(None, None, limits)
    credentials = login_for(host, share, auth, allow_no_auth)
    if isinstance(credentials, list):
        credentials = Logins(
            credentials, limits.login_attempts, limits.login_window, limits.login_lockout
        )
        launch_kwargs.setdefault(
            "auth_message",
            f"After {limits.login_attempts} wrong passwords within {limits.login_window:.0f} "
            f"seconds, logins from your address are refused for {limits.login_lockout:.0f} "
            "seconds.",
        )
    launch_kwargs.setdefault("max_file_size", "25mb")  # the loader refuses files over 20 MB
    # Each chat waiting in the local model's queue takes a worker thread for a second at a
    # time; enough of them that the answer being written never waits for one.
    launch_kwargs.setdefault("max_threads", 40 + limits.queue_size)
    app_kwargs = dict(launch_kwargs.pop("app_kwargs", None) or {})
    if "lifespan" in app_kwargs:
        raise ValueError("launch() sets the app's lifespan itself (it installs the host check)")
    hosts = allowed_hosts(host, qa.settings.ui.allowed_hosts)
    app_kwargs["lifespan"] = HostCheck.lifespan(hosts, any_ip=host in WILDCARDS)
    block = not launch_kwargs.pop("prevent_thread_lock", False)
    demo = build_app(qa)
    app, _, share_url = demo.launch(
        server_name=host,
        server_port=port,
        auth=credentials,
        share=share,
        theme=THEME,
        css=CSS,
        app_kwargs=app_kwargs,
        prevent_thread_lock=True,  # to check the guard first; blocks below
        **launch_kwargs,
    )
    if not isinstance(app.middleware_stack, HostCheck):  # fail closed, never serve unguarded
        demo.close()
        raise RuntimeError("the host check did not install; not serving (see webguard.py)")
    if share_url:
        hosts.add(hostname(share_url))
    if block:
        demo.block_thread()
        return None
    return demo


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """`newsqa ui`: check the login, fill an empty store with the samples, serve until stopped."""
    login = login_text(args.auth, args.auth_file, settings.ui)
    if args.auth:
        print(AUTH_IN_PS, file=sys.stderr)
    login_for(args.host, False, login, args.no_auth)  # refuse before doing any work
    qa = NewsQA(settings)
    if qa.count() == 0 and not args.no_samples and cli.SAMPLES.is_dir():
        print(
            f"The store is empty: ingesting the sample corpus from {cli.SAMPLES} ...",
            file=sys.stderr,
        )
        print(qa.ingest([str(cli.SAMPLES)]).summary(), file=sys.stderr)
    return launch(qa, host=args.host, port=args.port, auth=login, allow_no_auth=args.no_auth) or 0


def main(argv: list[str] | None = None) -> int:
    """`python ui.py [OPTIONS]`: the same command as `newsqa ui [OPTIONS]`."""
    return cli.main(["ui", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
