"""What the page's events do: answer a question (streamed, in its place in the model's queue),
ingest uploads and URLs within a per-request budget, list the articles. Every input is checked
first (checks.py) and every result rendered escaped (render.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import gradio as gr

from ..chain import NewsQA
from ..errors import QueueFull
from ..features import question_date_for
from ..model_queue import Ticket
from ..types import web_url
from .checks import (
    chars,
    check_history,
    check_question,
    explain,
    parse_filters,
    recent,
    withhold_paths,
)
from .render import (
    about,
    counted,
    questions,
    render_answer,
    render_partial,
    render_waiting,
    ui_error,
)

log = logging.getLogger("newsqa.ui")

REPORT_HEADERS = ["Item", "Title", "Result", "Details"]
ARTICLE_HEADERS = ["Title", "Outlet", "Published", "Chunks", "URL"]


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
        if chars(before) > self.limits.max_chat_chars:
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
