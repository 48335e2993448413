"""Articles from the web: one page, or a feed's entries (each entry's linked page, else the
entry's own summary), fetched by `Fetcher` within its limits.

A fetched article is stored under the URL it was fetched from, whatever the page or the feed
claims: a page's `URL:` line or canonical link, or a feed entry's link that was not fetched,
could otherwise name (and replace) another stored article.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit
from xml.sax import SAXParseException

import feedparser

from ..errors import BadInput
from ..types import Article, Failure, article_id
from . import formats, raw
from .failures import Item, guarded
from .fetch import Fetcher, Page


class WebLoader:
    """Pages and feeds -> articles, a Failure for each page or entry that cannot be loaded."""

    def __init__(self, fetcher: Fetcher, max_feed_entries: int) -> None:
        self.fetcher, self.max_feed_entries = fetcher, max_feed_entries

    def url(self, url: str) -> Iterator[Item]:
        page = self.fetcher.fetch(url)
        if raw.sniff(page.data, page.content_type) == "feed":
            yield from self.feed(page, url)
        else:
            article = self.page_article(page, url)
            yield replace(article, source=article.source or host(page.url))

    def page_article(self, page: Page, url: str) -> Article:
        """A fetched page -> its article; `source` is the site name only if the page gives one.

        Its url and id are the URL it was fetched from (after redirects), whatever the page says:
        a `URL:` or `ID:` line, or a canonical link, naming another article would replace it.
        """
        kind = raw.sniff(page.data, page.content_type)
        if kind == "feed":
            raise BadInput("the link is a feed, not an article page")
        if kind != "html" and not page.content_type.startswith("text/plain"):
            mime = page.content_type.split(";")[0] or "none"
            raise BadInput(
                f"unsupported content type {mime!r}; expected an HTML page, a feed or text"
            )
        html = kind == "html"
        text = raw.decode(page.data, declared=page.charset, html=html, detect=True, what="page")
        article = (formats.from_html if html else formats.from_text)(text, origin=url)
        return replace(article, url=page.url, id=article_id(page.url, "", ""))

    def feed(self, page: Page, url: str) -> Iterator[Item]:
        """Each entry's linked page; the entry's own summary when the link fails."""
        site, entries = self.entries(page, url)
        kept = entries[: self.max_feed_entries]
        for n, entry in enumerate(kept, 1):
            yield from guarded(f"{url} entry {n}", self.entry(entry, n, url, site))
        if skipped := len(entries) - len(kept):
            yield self.too_many(url, skipped, len(entries))

    def entries(self, page: Page, url: str) -> tuple[str, list[dict]]:
        """(the feed's site name, all its entries); BadInput when it is no readable feed."""
        headers = {"content-location": url, "content-type": page.content_type}
        try:
            parsed = feedparser.parse(_safe_char_refs(page.data), response_headers=headers)
        except Exception as exc:  # feedparser's lenient parser raises on some broken feeds
            problem = (
                "it holds a NUL byte, which XML does not allow"
                if "null character" in str(exc)
                else f"{type(exc).__name__}: {exc}"
            )
            raise BadInput(f"not a readable RSS/Atom feed ({problem})") from exc
        if not parsed.entries:
            problem = parsed.get("bozo_exception")
            if isinstance(problem, SAXParseException):
                problem = f"line {problem.getLineNumber()}: {problem.getMessage()}"
            raise BadInput(
                f"not a readable RSS/Atom feed ({problem})" if problem else "feed has no entries"
            )
        return raw.one_line(parsed.feed.get("title", "")) or host(url), list(parsed.entries)

    def too_many(self, url: str, skipped: int, total: int) -> Failure:
        # Each entry is a download: one feed of 2,000 entries was 2,000 requests.
        return Failure(
            url,
            f"{skipped} of its {total} entries skipped: a feed is read up to "
            f"{self.max_feed_entries} entries",
        )

    def entry(self, entry: dict, n: int, feed_url: str, site: str) -> Iterator[Item]:
        link = (entry.get("link") or "").strip()
        content = (entry.get("content") or [{}])[0].get("value") or entry.get("summary") or ""
        summary = formats.html_fragment_text(content)
        meta = {
            "title": raw.one_line(entry.get("title", "")),
            "author": raw.one_line(entry.get("author", "")),
            "published": _entry_date(entry),
        }
        if not link and not summary:
            yield Failure(feed_url, f"entry {n}: no link and no content")
            return
        if link:
            try:
                article = self.page_article(self.fetcher.fetch(link), link)
            except BadInput as exc:
                if not summary:
                    yield Failure(link, str(exc))
                    return
                yield Failure(link, f"{exc}; loaded the feed's summary instead")
            else:
                known = {field: getattr(article, field) or value for field, value in meta.items()}
                yield replace(article, source=article.source or site, **known)
                return
        origin = link or f"{feed_url} entry {n}"
        # Not fetched from `link`, so not stored under it: the id comes from the text, as for an
        # entry with no link (the feed could name another article's URL and replace it); or
        # from the entry's own id within this feed, so that a changed entry replaces itself.
        guid = raw.one_line(entry.get("id", ""))
        yield Article(
            text=summary,
            source=site,
            url=link or None,
            id=article_id(f"{feed_url}#{guid}", "", "")
            if guid
            else article_id(None, meta["title"], summary),
            origin=origin,
            **meta,
        )


_CHAR_REF = re.compile(rb"&#(x[0-9a-f]+|[0-9]+);", re.IGNORECASE)


def _safe_char_refs(data: bytes) -> bytes:
    """`&#xD800;` or `&#x110000;` -> U+FFFD: one such reference makes feedparser give up."""

    def fix(ref: re.Match[bytes]) -> bytes:
        number = ref.group(1)
        digits = (number[1:] if number[:1] in b"xX" else number).lstrip(b"0") or b"0"
        if len(digits) <= 8:  # more would be past U+10FFFF (or too long for int())
            code = int(digits, 16 if number[:1] in b"xX" else 10)
            if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                return ref.group(0)
        return b"&#xfffd;"

    return _CHAR_REF.sub(fix, data)


def _entry_date(entry: dict) -> str:
    """The entry's date as written (feedparser's parsed dates are moved to UTC)."""
    for key in ("published", "updated", "created"):
        if iso := raw.parse_date(entry.get(key) or ""):
            return iso
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return f"{parsed.tm_year:04d}-{parsed.tm_mon:02d}-{parsed.tm_mday:02d}" if parsed else ""


def host(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")
