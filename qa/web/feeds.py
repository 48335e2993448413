"""The Articles tab's watched feeds: the list, adding and removing one, and the polling thread.

Who may change the list (`editors`): "login" (the UI has logins; a request without a user is
refused), "anyone" (served on loopback without logins: the machine's own user) or "nobody" (an
open server without logins, where a stranger could otherwise make it poll whatever they like).
A feed added here is polled with an untrusted request's rules (NewsQA.watcher).
"""

from __future__ import annotations

import logging
import threading

import gradio as gr

from vectorstore.errors import BadInput

from ..chain import NewsQA
from .checks import explain, withhold_paths
from .render import ui_error

log = logging.getLogger("newsqa.ui")

FEED_HEADERS = ["Feed", "Last check (UTC)", "New articles", "Last error"]
MAX_URL_CHARS = 2000


class FeedHandlers:
    def __init__(self, qa: NewsQA, editors: str, paths: list[str]) -> None:
        self.qa, self.editors, self.paths = qa, editors, paths
        self.watcher = qa.watcher()

    def rows(self) -> list[list[str]]:
        rows = []
        for s in self.qa.watchlist.feeds():
            found = f"{s.new_articles} new, {s.updated_articles} updated" if s.last_check else ""
            error = withhold_paths(s.last_error, self.paths)
            rows.append([s.url, s.last_check.replace("+00:00", ""), found, error])
        return rows

    def watch(self, url: str, request: gr.Request | None = None):
        """Add a feed and poll it now: (status line, feed rows, cleared URL box)."""
        self._may_edit(request)
        url = (url or "").strip()[: MAX_URL_CHARS + 1]
        if not url:
            raise gr.Error("Paste the address of an RSS or Atom feed first.")
        if len(url) > MAX_URL_CHARS:
            raise gr.Error(f"That address is longer than {MAX_URL_CHARS} characters.")
        try:
            state, new = self.qa.watchlist.add(url, by_ui=True)
        except BadInput as exc:
            raise gr.Error(ui_error(str(exc))) from exc
        if not new:
            return f"Already watching {url}.", self.rows(), ""
        try:
            result = self.watcher.check(state)
        except Exception as exc:  # the store failed: the feed stays listed, polled later
            log.exception("polling %r failed", url)
            return explain(exc, "Could not store the feed's articles", self.paths), self.rows(), ""
        if result.error:
            said = f"it could not be read yet ({withhold_paths(result.error, self.paths)})"
        else:
            counts = result.report.counts()
            said = f"{counts['added']} articles added, {counts['failed']} failed"
        every = f"{self.watcher.every / 60:g} minutes"
        return f"Watching {url}: {said}. It is polled again every {every}.", self.rows(), ""

    def unwatch(self, url: str, request: gr.Request | None = None):
        """Stop watching a feed (its articles stay): (status line, feed rows, cleared URL box)."""
        self._may_edit(request)
        url = (url or "").strip()[:MAX_URL_CHARS]
        if not url:
            raise gr.Error("Paste the address of the feed to stop watching (from the list).")
        if not self.qa.watchlist.remove(url):
            raise gr.Error("That feed is not watched.")
        return f"No longer watching {url}; its articles stay in the collection.", self.rows(), ""

    def _may_edit(self, request: gr.Request | None) -> None:
        if self.editors == "anyone":
            return
        if self.editors == "login" and request is not None and request.username:
            return
        raise gr.Error(
            "Log in to change the watched feeds."
            if self.editors == "login"
            else "This server has no logins, so its watched feeds cannot be changed from the page."
        )

    def start(self) -> threading.Event:
        """Poll the watched feeds in a thread until the returned event is set."""
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                try:
                    self.watcher.run(stop)
                except Exception:  # the store went away, say: try again after a while
                    log.exception("polling the watched feeds failed")
                    stop.wait(self.watcher.every)

        threading.Thread(target=poll, name="newsqa-watch", daemon=True).start()
        return stop
