"""Watched feeds: each polled on a schedule, its new and changed entries stored.

The list of watched feeds is a folder of state files, one per feed (`<sha>.json`, written whole
or not at all), so `newsqa watch`, the UI and a restart all see the same list. A feed's state
holds what the next poll needs:

- the `ETag` and `Last-Modified` of its last answer, sent back so that a feed with nothing new
  costs a 304 and no parsing;
- a fingerprint of each entry seen, so that only new and changed entries are fetched and stored
  (a changed entry replaces its article: it keeps its link, or its id within the feed);
- the consecutive failures, which double the wait before the next poll (up to `max_backoff`);
- what the last check found, and its error, for the UI's list.

A poll fetches with the same rules as `newsqa ingest` (`Fetcher`: public addresses only unless
`store.allow_private_urls`, the time and size limits, `store.max_feed_entries`).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

from .errors import BadInput
from .files import write_atomic
from .ingest.failures import Item, guarded, reason
from .ingest.fetch import Fetcher
from .ingest.web import WebLoader
from .types import Failure, IngestReport

MIN_EVERY = 60.0  # seconds: a feed is not polled more often than once a minute
_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> float:
    """ "15m", "1h", "90s" or "900" -> seconds; ValueError for anything else or under a minute."""
    match = _EVERY.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: give e.g. 90s, 15m, 1h or 1d")
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds < MIN_EVERY:
        raise ValueError(f"{text!r} is too often: a feed is polled at most once a minute")
    return seconds


def _now_text(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")


@dataclass
class FeedState:
    """One watched feed: its validators, the entries seen, and its last check."""

    url: str
    added: str = ""  # when it was first watched (UTC, ISO 8601)
    by_ui: bool = False  # added from the web page: its errors are told as to a UI user
    etag: str = ""
    last_modified: str = ""
    entries: dict[str, str] = field(default_factory=dict)  # entry key -> fingerprint
    last_check: str = ""
    last_error: str = ""
    new_articles: int = 0  # stored by the last check that found anything
    updated_articles: int = 0
    total_articles: int = 0  # added over all checks
    failures: int = 0  # consecutive
    next_check: float = 0.0  # time.time() of the next poll

    @classmethod
    def from_json(cls, data: dict) -> FeedState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class WatchList:
    """The watched feeds: one state file each in `folder`; at most `max_feeds` of them."""

    def __init__(self, folder: Path, max_feeds: int) -> None:
        self.folder, self.max_feeds = Path(folder), max_feeds

    def path(self, url: str) -> Path:
        return self.folder / (hashlib.sha256(url.encode()).hexdigest()[:24] + ".json")

    def feeds(self) -> list[FeedState]:
        """Every watched feed, oldest first; a state file that cannot be read is skipped."""
        states = []
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                states.append(FeedState.from_json(json.loads(path.read_text("utf-8"))))
            except (OSError, ValueError, TypeError):
                continue  # written whole or not at all, so only by hand; the next add rewrites it
        return sorted(states, key=lambda s: (s.added, s.url))

    def get(self, url: str) -> FeedState | None:
        return next((s for s in self.feeds() if s.url == url), None)

    def add(
        self, url: str, *, by_ui: bool = False, now: float | None = None
    ) -> tuple[FeedState, bool]:
        """Watch `url` (a http(s) address); (its state, whether it is new). BadInput if not."""
        url = url.strip()
        if not re.match(r"^https?://[^\s/?#]+", url, re.IGNORECASE) or len(url) > 2000:
            raise BadInput("not a feed address: give an http(s) URL of an RSS or Atom feed")
        if (state := self.get(url)) is not None:
            return state, False
        if len(self.feeds()) >= self.max_feeds:
            raise BadInput(f"{self.max_feeds} feeds are watched already; remove one first")
        state = FeedState(url, added=_now_text(time.time() if now is None else now), by_ui=by_ui)
        self.save(state)
        return state, True

    def remove(self, url: str) -> bool:
        path = self.path(url.strip())
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed

    def save(self, state: FeedState) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path(state.url), json.dumps(asdict(state), indent=1))


def entry_key(entry: dict, n: int) -> str:
    """Which entry this is across polls: its id, else its link, else its title, else its place."""
    for name in ("id", "link", "title"):
        if value := str(entry.get(name) or "").strip():
            return f"{name}:{value[:500]}"
    return f"n:{n}"


def fingerprint(entry: dict) -> str:
    """What an entry says: a change here is a changed entry, worth fetching again."""
    content = (entry.get("content") or [{}])[0].get("value") or ""
    parts = [entry.get(k) or "" for k in ("title", "link", "updated", "published", "summary")]
    return hashlib.sha256("\x1f".join(map(str, [*parts, content])).encode()).hexdigest()[:20]


@dataclass
class CheckResult:
    """What one poll of one feed did."""

    url: str
    not_modified: bool = False
    entries_changed: int = 0
    report: IngestReport | None = None
    error: str = ""


class Watcher:
    """Polls the feeds of a WatchList and stores what is new through `ingest`.

    Args:
        ingest: stores loaded items (articles and failures) and reports on them; `NewsQA`
            passes one that marks each article with its provenance.
        fetcher: makes a `Fetcher` for one poll (the settings' limits and address rules); its
            argument says whether a UI user added the feed (one reason for network failures).
        every: seconds between polls of a feed that answered.
        max_backoff: the longest wait after failures (each one doubles the wait).
    """

    def __init__(
        self,
        watchlist: WatchList,
        ingest: Callable[[Iterable[Item]], IngestReport],
        fetcher: Callable[[bool], Fetcher],
        max_feed_entries: int,
        every: float,
        max_backoff: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.watchlist, self.ingest, self.fetcher = watchlist, ingest, fetcher
        self.max_feed_entries, self.every, self.max_backoff = max_feed_entries, every, max_backoff
        self.clock = clock
        self.lock = threading.Lock()  # one poll at a time (the UI's thread and a button)

    def due(self) -> list[FeedState]:
        now = self.clock()
        return [s for s in self.watchlist.feeds() if s.next_check <= now]

    def check_due(self) -> list[CheckResult]:
        return [self.check(state) for state in self.due()]

    def check(self, state: FeedState) -> CheckResult:
        """Poll one feed now, store its new and changed entries, and save its state."""
        with self.lock:
            # As saved by the poll before, which may have run in another thread meanwhile.
            state = self.watchlist.get(state.url) or state
            result = CheckResult(state.url)
            web = self.fetcher(state.by_ui)
            try:
                self._poll(state, web, result)
            except Exception as exc:  # one feed's failure is its own: the others go on
                result.error = reason(exc)
            finally:
                web.close()
            now = self.clock()
            state.last_check, state.last_error = _now_text(now), result.error
            if result.error:
                state.failures += 1
                wait = min(self.every * 2**state.failures, max(self.every, self.max_backoff))
            else:
                state.failures, wait = 0, self.every
            state.next_check = now + wait
            if self.watchlist.path(state.url).exists():  # not removed while it was polled
                self.watchlist.save(state)
            return result

    def _poll(self, state: FeedState, web: Fetcher, result: CheckResult) -> None:
        page = web.fetch(state.url, etag=state.etag, last_modified=state.last_modified)
        if page.not_modified:
            result.not_modified = True
            state.new_articles = state.updated_articles = 0
            return
        loader = WebLoader(web, self.max_feed_entries)
        site, entries = loader.entries(page, state.url)
        kept = entries[: self.max_feed_entries]
        seen: dict[str, str] = {}
        changed = []
        for n, entry in enumerate(kept, 1):
            key = entry_key(entry, n)
            if key in seen:  # the same id twice in one feed: the first one counts
                continue
            seen[key] = fingerprint(entry)
            if state.entries.get(key) != seen[key]:
                changed.append((n, entry, key))
        result.entries_changed = len(changed)
        loaded: dict[str, list[Item]] = {}

        def items() -> Iterator[Item]:
            for n, entry, key in changed:
                got = list(
                    guarded(f"{state.url} entry {n}", loader.entry(entry, n, state.url, site))
                )
                loaded[key] = got
                yield from got
            if skipped := len(entries) - len(kept):
                yield loader.too_many(state.url, skipped, len(entries))

        report = result.report = self.ingest(items())
        failed = {f.item for f in report.failed}
        for key, got in loaded.items():
            # An entry that gave no stored article (its page and summary both failed, or the
            # store refused it) is tried again at the next poll.
            if any(not isinstance(i, Failure) and (i.origin or i.id) not in failed for i in got):
                state.entries[key] = seen[key]
        for key in [k for k in state.entries if k not in seen]:
            del state.entries[key]  # gone from the feed: its article stays stored
        state.etag, state.last_modified = page.etag, page.last_modified
        state.new_articles, state.updated_articles = len(report.added), len(report.updated)
        state.total_articles += len(report.added)

    def run(self, stop: threading.Event, once: bool = False) -> None:
        """Poll due feeds until `stop` is set (a SIGTERM, say); with `once`, one round only.

        `stop` is checked between feeds and while waiting, so a stop ends a wait at once and
        never cuts a feed's ingestion in half.
        """
        while not stop.is_set():
            for state in self.due():
                if stop.is_set():
                    return
                self.on_result(self.check(state))
            if once:
                return
            waits = [s.next_check - self.clock() for s in self.watchlist.feeds()]
            stop.wait(min([self.every, *waits]) if waits else self.every)

    def on_result(self, result: CheckResult) -> None:
        """Called after each poll (the CLI prints a line)."""
