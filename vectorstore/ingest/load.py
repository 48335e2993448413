"""Sources -> articles: files, folders, http(s) pages, RSS/Atom feeds and JSON Lines (pages and
feeds are read in web.py).

Whatever cannot be loaded becomes a `Failure` with a reason a person can act on, and loading goes
on with the next item: one bad file, line, URL or feed entry never stops an ingestion.

Encodings: files are read as UTF-8 (or as a UTF-8/UTF-16 byte-order mark or an HTML page's
`<meta charset>` says); any other file is reported as "not valid UTF-8 at byte N" rather than
guessed, because a wrong guess garbles names and numbers without a word, and a file can be saved
again as UTF-8. A web page cannot, so pages are decoded with the charset the server or the page
declares, else UTF-8, else the one `charset_normalizer` detects.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx

from ..errors import BadInput
from ..types import Article, Failure
from . import formats, raw
from .failures import Item, guarded, reason
from .fetch import Fetcher
from .fetch import size as _size
from .web import WebLoader

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_KINDS = {
    ".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
    ".xhtml": "html", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
}  # fmt: skip
_PARSERS = {"text": formats.from_text, "markdown": formats.from_markdown, "html": formats.from_html}


def load_sources(
    sources: Iterable[str],
    *,
    timeout: float = 15.0,
    max_bytes: int = 20_000_000,
    client: httpx.Client | None = None,
    allow_private: bool = False,
    uniform_errors: bool = False,
    max_feed_entries: int = 100,
    max_urls: int | None = None,
    deadline: float | None = None,
) -> Iterator[Article | Failure]:
    """Yield the articles in files, folders, URLs and feeds, and a Failure for each bad item.

    Args:
        timeout: seconds a download may take before it is given up.
        max_bytes: the largest file or page read; for JSON Lines, the longest line.
        client: the `httpx.Client` to fetch with; by default one is made with the User-Agent
            "newsqa/0.1". Redirects are followed here, at most 5, each hop checked.
        allow_private: fetch URLs on loopback, private and link-local addresses and on any port;
            by default only public addresses on ports 80 and 443 (see `vectorstore.ingest.fetch`).
        uniform_errors: one reason for every network failure, so that a user who only sees the
            reasons cannot tell a closed port from a refused address (the UI sets it).
        max_feed_entries: the entries read from one feed; one Failure says how many were not.
        max_urls: the URLs in `sources` fetched (feed entries not counted); each one after
            them is a Failure, "skipped". None: all.
        deadline: seconds after which no download starts (each is a Failure, "skipped") and a
            running one is ended; files are still read. None: no limit.
    """
    if isinstance(sources, str | os.PathLike):
        sources = [sources]  # one path given bare, rather than its characters one by one
    web = Fetcher(
        timeout,
        max_bytes,
        client,
        allow_private=allow_private,
        uniform_errors=uniform_errors,
        deadline=deadline,
    )
    loader = _Loader(max_bytes, web, max_feed_entries, max_urls)
    try:
        for source in sources:
            yield from guarded(_shown(source), loader.source(str(source)))
    finally:
        web.close()


class _Loader:
    def __init__(
        self, max_bytes: int, web: Fetcher, max_feed_entries: int, max_urls: int | None
    ) -> None:
        self.max_bytes, self.web = max_bytes, WebLoader(web, max_feed_entries)
        self.max_urls, self.urls = max_urls, 0

    def source(self, source: str) -> Iterator[Item]:
        source = source.strip()
        if not source:
            raise BadInput("empty source; give a file, a folder or an http(s) URL")
        if _URL.match(source):
            scheme = source.split(":", 1)[0].lower()
            if scheme not in ("http", "https"):
                raise BadInput(f"unsupported URL scheme {scheme!r}; use http or https")
            self.urls += 1
            if self.max_urls is not None and self.urls > self.max_urls:
                raise BadInput(f"skipped: one ingestion fetches at most {self.max_urls} URLs")
            yield from self.web.url(source)
            return
        path = Path(source).expanduser()
        if path.is_dir():
            yield from self.folder(path, seen=set())
        elif path.exists():
            yield from self.file(path)
        else:
            raise BadInput("no such file or folder")

    # ------------------------------------------------------------ files

    def folder(self, folder: Path, seen: set[Path]) -> Iterator[Item]:
        """Every file below `folder`, sorted by name; hidden files and folders are skipped."""
        if folder.resolve() in seen:  # a symlink back up the tree
            return
        seen.add(folder.resolve())
        for child in sorted(folder.iterdir()):
            if child.name.startswith("."):
                continue
            loading = self.folder(child, seen) if child.is_dir() else self.file(child)
            yield from guarded(_shown(child), loading)

    def file(self, path: Path) -> Iterator[Item]:
        origin, size = _shown(path), path.stat().st_size
        kind = _KINDS.get(path.suffix.lower())
        if size == 0:
            raise BadInput("empty file")
        if kind == "jsonl":
            yield from self.json_lines(path)
            return
        if size > self.max_bytes:
            raise BadInput(
                f"file is {_size(size)}, over the {_size(self.max_bytes, short=True)} limit"
            )
        data = path.read_bytes()
        kind = kind or raw.sniff(data) or "text"
        text = raw.decode(data, html=kind == "html")
        if not text.strip():
            raise BadInput("empty file (only white space)")
        if kind == "feed":
            raise BadInput("a saved RSS/Atom feed; load the feed from its URL instead")
        if kind == "json":
            yield from self.json_file(text, origin)
        else:
            yield _PARSERS[kind](text, origin=origin)

    def json_file(self, text: str, origin: str) -> Iterator[Item]:
        """One article object, or a list of them."""
        records = formats.parse_json(text)
        if not isinstance(records, list):
            yield formats.from_record(records, origin=origin)
            return
        if not records:
            raise BadInput("the JSON list is empty")
        for n, record in enumerate(records, 1):
            try:
                yield formats.from_record(record, origin=f"{origin}:item {n}")
            except Exception as exc:  # one bad item must not lose the items after it
                yield Failure(origin, f"item {n}: {reason(exc)}")

    def json_lines(self, path: Path) -> Iterator[Item]:
        """One article a line, read line by line; a bad line is reported and the rest still load."""
        origin, offset, found = _shown(path), 0, False
        with path.open("rb") as f:
            if raw.is_binary(f.read(raw.SNIFF)):
                raise BadInput("binary file (not text)")
            f.seek(0)
            for n in itertools.count(1):
                if not (line := f.readline(self.max_bytes + 1)):
                    break
                start, offset = offset, offset + len(line)
                if len(line) > self.max_bytes:
                    while not line.endswith(b"\n") and (line := f.readline(1 << 20)):
                        offset += len(line)  # skip the rest of the line, a piece at a time
                    limit = _size(self.max_bytes, short=True)
                    found = True  # a line was there: the file is not empty
                    yield Failure(origin, f"line {n}: longer than the {limit} limit")
                elif item := _json_line(line, n, start, origin):
                    found = True
                    yield item
        if not found:
            raise BadInput("empty file (no JSON lines)")


def _json_line(line: bytes, n: int, start: int, origin: str) -> Item | None:
    """Line `n` of a JSON Lines file (at byte `start`) -> an Article, a Failure or None (blank)."""
    try:
        text = line.decode("utf-8").removeprefix("\ufeff")
        if not text.strip():
            return None
        return formats.from_record(formats.parse_json(text), origin=f"{origin}:line {n}")
    except UnicodeDecodeError as exc:
        return Failure(origin, f"line {n}: {raw.not_utf8(exc, start)}")
    except Exception as exc:  # one bad line must not lose the lines after it
        return Failure(origin, f"line {n}: {reason(exc)}")


def _shown(path: object) -> str:
    """A path as printable text: bytes of a name that are not UTF-8 are shown as \\xe9."""
    text = str(path)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that was not an undecodable byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
