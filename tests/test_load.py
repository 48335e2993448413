"""vectorstore.ingest.load: files, folders, pages, feeds, JSON Lines -> articles, or failures."""

from __future__ import annotations

import itertools
import json
import socket
import tempfile
from pathlib import Path

import httpx
import pytest
from helpers.web import LocalServer
from hypothesis import given, settings
from hypothesis import strategies as st

from vectorstore.ingest.load import load_sources
from vectorstore.types import Article, Failure, article_id

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SEED_TXT = SHARED / "seed" / "tesla-china-2024-04-29.txt"

BRIDGE_BODY = (
    "The Harbour Bridge in Riverton reopened to traffic on Thursday after eleven months of "
    "repairs that cost the city 48 million dollars, the transport office said.\n\n"
    "Engineers replaced 212 steel cables and resurfaced the deck. The mayor, Ida Brannock, said "
    "the work was finished three weeks ahead of schedule.\n\n"
    "Cyclists will get a separate lane from May, according to the council."
)

# The shape of text pasted from a news site (as ../shared/data/seed/*.txt), self-written.
SEED_SHAPED = f"""Harbour Bridge Reopens After Eleven Months of Repairs

The city says the work finished ‘three weeks early and under budget.’
Harbour Bridge Reopens After Eleven Months of Repairs
Mayor Ida Brannock (C) cuts the ribbon on the Harbour Bridge in Riverton on March 14, 2024. Tom Ash/Riverton Gazette via AP
Mara Quell
Updated:
0:00

{BRIDGE_BODY}
"""  # noqa: E501

HEADER_BLOCK = f"""Title: Harbour   Bridge reopens after repairs
Source: Riverton Gazette
Author: Mara Quell
Section: Transport
Published: Apr. 14, 2024 10:32 AM ET
URL: https://gazette.example/2024/04/14/bridge

Harbour Bridge reopens after repairs
{BRIDGE_BODY.replace("Engineers replaced", "Engineers   replaced")}
"""

PAGE = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Harbour Bridge Reopens After Repairs | Riverton Gazette</title>
<meta property="og:site_name" content="Riverton Gazette">
<meta name="author" content="Mara Quell">
<meta property="article:published_time" content="2024-03-14T08:30:00Z">
</head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/sport">Sport</a></li>
<li>Subscribe now</li></ul></nav>
<header><h1>Harbour Bridge Reopens After Repairs</h1></header>
<article>{"".join(f"<p>{p}</p>" for p in BRIDGE_BODY.split(chr(10) * 2))}</article>
<footer>Copyright 2024 Riverton Gazette. Privacy policy. Cookie settings.</footer>
</body></html>"""

MENU_ONLY_PAGE = (
    "<html><head><title>Menu</title></head><body><nav><a href='/'>Home</a> "
    "<a href='/sport'>Sport</a></nav></body></html>"
)


def page(title: str, body: str, site: str | None = None) -> str:
    """A small news page; with `site`, it names its site."""
    meta = f'<meta property="og:site_name" content="{site}">' if site else ""
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    return (
        f"<html><head><title>{title}</title>{meta}</head><body><article><h1>{title}</h1>"
        f"{paragraphs}</article></body></html>"
    )


LONG_BODY = (
    "The council voted on Monday to build a new library on Quay Street for 12 million dollars.\n\n"
    "Work starts in June and the building should open in the autumn of next year, it said."
)
HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture
def server():
    """A LocalServer: on 127.0.0.1, so each load from it passes allow_private=True."""
    with LocalServer(slow_seconds=5) as srv:
        yield srv


def load(*sources, **options) -> tuple[list[Article], list[Failure]]:
    """The articles and the failures that load_sources yields, each in order."""
    items = list(load_sources([str(s) for s in sources], **options))
    articles = [i for i in items if isinstance(i, Article)]
    return articles, [i for i in items if isinstance(i, Failure)]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# ------------------------------------------------------------------ text files


def test_seed_shaped_text_gives_title_byline_and_keeps_caption(tmp_path):
    (article,), failures = load(write(tmp_path / "bridge.txt", SEED_SHAPED))
    assert failures == []
    assert article.title == "Harbour Bridge Reopens After Eleven Months of Repairs"
    assert article.author == "Mara Quell"
    assert article.source == ""  # the text names no outlet: none is invented
    assert article.published == ""  # "Updated:" is followed by a video time, not a date
    assert article.url is None
    assert "three weeks early and under budget" in article.text  # the subtitle is text
    assert "cuts the ribbon on the Harbour Bridge in Riverton on March 14, 2024." in article.text
    assert "via AP" not in article.text  # the photo credit is not a fact of the story
    assert "0:00" not in article.text and "Updated" not in article.text
    assert "Mara Quell" not in article.text
    assert article.title not in article.text  # neither the title line nor its repeat
    assert "\n\nEngineers replaced 212 steel cables" in article.text  # paragraphs kept
    assert article.origin == str(tmp_path / "bridge.txt")


def test_text_with_byline_and_date_in_paragraphs_of_their_own(tmp_path):
    body = BRIDGE_BODY + "\n\nPosted on Monday, April 29, 2024, the notice said little."
    head = "Bridge reopens\n\nBy Mara Quell, Gazette\n\nUpdated 10:32 AM ET, Sun April 14, 2024"
    text = f"{head}\n\n{body}"
    (article,), _ = load(write(tmp_path / "a.txt", text))
    assert (article.author, article.published) == ("Mara Quell, Gazette", "2024-04-14")
    assert article.text == body  # a sentence starting "Posted on <date>" is text, not a date


@pytest.mark.skipif(not SEED_TXT.exists(), reason="../shared/data is not present")
def test_the_seed_article_file(monkeypatch):
    monkeypatch.chdir(REPO)
    (article,), failures = load("../shared/data/seed/tesla-china-2024-04-29.txt")
    assert failures == []
    assert article.origin == "../shared/data/seed/tesla-china-2024-04-29.txt"
    assert article.title.startswith("Elon Musk Concludes China Visit as Tesla Passes Data")
    assert article.author == "Aldgra Fredly"
    assert (article.source, article.published, article.url) == ("", "", None)
    assert "meets with China's Li Qiang (R) in Beijing, on April 28, 2024" in article.text
    assert "Baidu’s mapping license" in article.text
    assert "0:00" not in article.text


def test_header_block_text(tmp_path):
    (article,), failures = load(write(tmp_path / "bridge.txt", HEADER_BLOCK))
    assert failures == []
    assert article.title == "Harbour Bridge reopens after repairs"
    assert (article.source, article.author) == ("Riverton Gazette", "Mara Quell")
    assert article.published == "2024-04-14"
    assert article.url == "https://gazette.example/2024/04/14/bridge"
    assert article.id == article_id(article.url, "", "")  # the URL gives the id
    assert article.text == BRIDGE_BODY  # repeated title dropped, spaces collapsed


def test_header_block_with_a_date_that_is_not_one(tmp_path):
    path = write(tmp_path / "a.txt", "Title: A\nPublished: next week\n\n" + BRIDGE_BODY)
    articles, (failure,) = load(path)
    assert articles == []
    assert "'next week' is not a date; write it as YYYY-MM-DD" in failure.reason


def test_markdown_with_front_matter_and_without(tmp_path):
    front = (
        '---\ntitle: "Bridge reopens"\nsource: Riverton Gazette\nauthors:\n  - Mara Quell\n'
        "  - Tom Ash\npublished: 2024-03-14\nlayout: post\n---\n\n"
    )
    body = "The [Harbour Bridge](https://x.example/b) reopened.\n\n## Cost\n\nIt cost 48 million."
    write(tmp_path / "a.md", front + body)
    write(tmp_path / "b.md", "# Bridge reopens\n\n" + body)
    (a, b), failures = load(tmp_path)
    assert failures == []
    assert (a.title, a.source, a.author, a.published) == (
        "Bridge reopens", "Riverton Gazette", "Mara Quell, Tom Ash", "2024-03-14",
    )  # fmt: skip
    assert a.text == "The Harbour Bridge reopened.\n\nCost\n\nIt cost 48 million."
    assert (b.title, b.source, b.published) == ("Bridge reopens", "", "")
    assert b.text == a.text


# ------------------------------------------------------------------ HTML, JSON, JSON Lines


def test_html_file_main_text_and_metadata(tmp_path):
    write(tmp_path / "page.html", PAGE)
    write(tmp_path / "menu.html", MENU_ONLY_PAGE)
    (article,), (failure,) = load(tmp_path)
    assert failure == Failure(str(tmp_path / "menu.html"), "HTML page has no main text")
    assert article.title == "Harbour Bridge Reopens After Repairs"
    assert (article.source, article.author, article.published) == (
        "Riverton Gazette", "Mara Quell", "2024-03-14",
    )  # fmt: skip
    assert article.text == BRIDGE_BODY  # no menu, no footer
    assert "Subscribe" not in article.text and "Cookie" not in article.text


def test_json_lines_bad_lines_are_reported_and_good_ones_load(tmp_path):
    good = {"id": "a1", "title": "Bridge", "source": "Gazette", "published": "2024-03-14",
            "url": None, "authors": ["Mara Quell", "Tom Ash"], "text": BRIDGE_BODY}  # fmt: skip
    lines = [
        json.dumps(good),  # 1
        "",  # 2: blank lines are skipped
        '{"title": "x" "text": "y"}',  # 3
        "[1, 2]",  # 4
        '{"title": "no text"}',  # 5
        '{"text": "   "}',  # 6
        '{"text": 42}',  # 7
        "[" * 100_000 + "]" * 100_000,  # 8
        json.dumps({"title": "Quay", "url": "https://x.example/q", "text": LONG_BODY}),  # 9
        '{"text": "ok", "published": "someday"}',  # 10
        '{"text": "ok", "title": {"a": {"b": [1, 2, {"c": null}]}}}',  # 11
    ]
    path = write(tmp_path / "articles.jsonl", "\n".join(lines) + "\n")
    (first, second), failures = load(path)
    assert (first.id, first.author, first.published, first.url) == (
        "a1", "Mara Quell, Tom Ash", "2024-03-14", None,
    )  # fmt: skip
    assert first.origin == f"{path}:line 1"
    assert second.id == article_id("https://x.example/q", "", "")
    assert second.origin == f"{path}:line 9"
    assert {f.item for f in failures} == {str(path)}
    assert [f.reason for f in failures] == [
        "line 3: invalid JSON: Expecting ',' delimiter at column 15",
        "line 4: not a JSON object (got a list)",
        "line 5: missing 'text'",
        "line 6: 'text' is empty",
        "line 7: 'text' must be a string, not a number",
        "line 8: invalid JSON: nested too deeply",
        "line 10: 'published' 'someday' is not a date; write it as YYYY-MM-DD",
        "line 11: 'title' must be a string, not an object",
    ]


def test_json_lines_over_long_and_non_utf8_lines(tmp_path):
    ok = json.dumps({"text": LONG_BODY}).encode()
    long = json.dumps({"text": "x" * 3000}).encode()
    path = write(tmp_path / "a.jsonl", b"\n".join([ok, long, b'{"text": "caf\xe9"}', ok]))
    articles, failures = load(path, max_bytes=2000)
    assert [a.origin for a in articles] == [f"{path}:line 1", f"{path}:line 4"]
    assert [f.reason for f in failures] == [
        "line 2: longer than the 2 KB limit",
        f"line 3: not valid UTF-8 at byte {len(ok) + len(long) + 2 + 13} (0xe9); save it as UTF-8",
    ]


def test_json_file_with_one_article_or_a_list(tmp_path):
    write(tmp_path / "one.json", json.dumps({"title": "Quay", "text": LONG_BODY}))
    write(tmp_path / "two.json", json.dumps([{"text": LONG_BODY, "id": 7}, {"title": "x"}]))
    write(tmp_path / "three.json", '"just a string"')
    articles, failures = load(tmp_path)
    assert [a.origin for a in articles] == [
        str(tmp_path / "one.json"),
        f"{tmp_path / 'two.json'}:item 1",
    ]
    assert articles[1].id == "7"
    assert [str(f) for f in failures] == [
        f"{tmp_path / 'three.json'}: not a JSON object (got a string)",
        f"{tmp_path / 'two.json'}: item 2: missing 'text'",
    ]


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not present")
def test_the_large_json_lines_corpus_streams():
    path = SHARED / "realtimeqa-dev" / "articles.jsonl"
    first = list(itertools.islice(load_sources([str(path)]), 3))
    assert all(isinstance(a, Article) and a.id.startswith("rtqa_") and a.source for a in first)


# ------------------------------------------------------------------ folders and bad files


def test_folder_reports_bad_files_and_loads_the_rest(tmp_path):
    write(tmp_path / "a-good.txt", SEED_SHAPED)
    write(tmp_path / "b-empty.txt", "")
    write(tmp_path / "c-photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(256)))
    write(
        tmp_path / "d-latin1.txt", "Caf\u00e9 reopens\n\nThe caf\u00e9 is open.".encode("latin-1")
    )
    write(tmp_path / "e-big.txt", "word " * 1200)
    write(tmp_path / "f-blank.txt", " \n\n \t\n")
    write(tmp_path / ".hidden.txt", SEED_SHAPED)
    write(tmp_path / ".git" / "x.txt", SEED_SHAPED)
    write(tmp_path / "sub" / "g.md", "# Quay library\n\n" + LONG_BODY)
    write(tmp_path / "sub" / "h.txt", "\ufeffQuay library\n\n" + LONG_BODY)  # BOM
    write(tmp_path / "sub" / "i.txt", ("Quay library\n\n" + LONG_BODY).encode("utf-16"))
    write(tmp_path / "sub" / "j.xml", ATOM)
    articles, failures = load(tmp_path, tmp_path / "missing.txt", max_bytes=5000)
    assert [Path(a.origin).name for a in articles] == ["a-good.txt", "g.md", "h.txt", "i.txt"]
    assert articles[2].title == articles[3].title == "Quay library"
    assert articles[2].text == articles[3].text == LONG_BODY
    assert [(Path(f.item).name, f.reason) for f in failures] == [
        ("b-empty.txt", "empty file"),
        ("c-photo.jpg", "binary file (not text)"),
        ("d-latin1.txt", "not valid UTF-8 at byte 3 (0xe9); save it as UTF-8"),
        ("e-big.txt", "file is 6.0 KB, over the 5 KB limit"),
        ("f-blank.txt", "empty file (only white space)"),
        ("j.xml", "a saved RSS/Atom feed; load the feed from its URL instead"),
        ("missing.txt", "no such file or folder"),
    ]


def test_odd_sources_never_raise(tmp_path):
    sources = ["", "ftp://example.org/a.txt", "bad\x00name", str(tmp_path / "nope")]
    items = list(load_sources(sources))
    assert all(isinstance(i, Failure) for i in items) and len(items) == 4
    assert items[0].reason.startswith("empty source")
    assert items[1].reason == "unsupported URL scheme 'ftp'; use http or https"
    assert items[2].reason == items[3].reason == "no such file or folder"


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_records = st.fixed_dictionaries(
    {"text": st.text(max_size=60) | _json_values},
    optional={k: _json_values for k in ("title", "published", "url", "id", "authors")},
)


@settings(max_examples=80, deadline=None)
@given(
    content=st.binary(max_size=400) | st.text(max_size=400).map(str.encode),
    suffix=st.sampled_from([".txt", ".md", ".html", ".json", ".jsonl", ".xml", ""]),
)
def test_any_file_gives_articles_or_failures_never_an_exception(content, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / f"x{suffix}", content)
        for item in load_sources([str(path)]):
            assert isinstance(item, Failure) or (item.text.strip() and item.origin)


_raw_lines = st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=30)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(_records.map(json.dumps), _json_values.map(json.dumps), _raw_lines)))
def test_each_json_line_gives_one_article_or_one_failure(lines):
    with tempfile.TemporaryDirectory() as folder:
        items = list(load_sources([str(write(Path(folder) / "x.jsonl", "\n".join(lines)))]))
    said = [
        i.origin.rsplit(":", 1)[1] if isinstance(i, Article) else i.reason.split(":")[0]
        for i in items
    ]
    expected = [f"line {n}" for n, line in enumerate(lines, 1) if line.strip()]
    if expected:
        assert said == expected
    else:  # nothing but blank lines
        assert [i.reason for i in items] in ([], ["empty file"], ["empty file (no JSON lines)"])


# ------------------------------------------------------------------ the web


def test_pages_and_what_goes_wrong_fetching_them(server):
    server.routes.update({
        "/bridge": (200, HTML, PAGE),
        "/moved": (301, {"Location": "/bridge"}, b""),
        "/menu": (200, HTML, MENU_ONLY_PAGE),
        "/note.txt": (200, {"Content-Type": "text/plain; charset=latin-1"},
                      "Café reopens\n\nThe café on Quay Street reopened.".encode("latin-1")),
        "/big": (200, HTML, page("Big", "word " * 3000)),
        "/image.png": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n..."),
    })  # fmt: skip
    paths = ["/bridge", "/moved", "/menu", "/note.txt", "/big", "/image.png", "/error",
             "/missing", "/loop", "/slow"]  # fmt: skip
    urls = [server.url(p) for p in paths]
    items = list(load_sources(urls, timeout=1, max_bytes=10_000, allow_private=True))
    by_url = {i.origin if isinstance(i, Article) else i.item: i for i in items}
    assert len(items) == len(paths)
    bridge = by_url[server.url("/bridge")]
    assert (bridge.title, bridge.source, bridge.published) == (
        "Harbour Bridge Reopens After Repairs", "Riverton Gazette", "2024-03-14",
    )  # fmt: skip
    assert bridge.text == BRIDGE_BODY
    moved = by_url[server.url("/moved")]  # stored under the URL it was fetched from
    assert (moved.text, moved.url, moved.id) == (BRIDGE_BODY, server.url("/bridge"), bridge.id)
    note = by_url[server.url("/note.txt")]
    assert (note.title, note.text, note.source) == (
        "Café reopens", "The café on Quay Street reopened.", "127.0.0.1",
    )  # fmt: skip
    reasons = {p: by_url[server.url(p)].reason for p in paths[2:] if p != "/note.txt"}
    assert reasons == {
        "/menu": "HTML page has no main text",
        "/big": "page is 15.1 KB, over the 10 KB limit",
        "/image.png": "unsupported content type 'image/png'; expected an HTML page, a feed or text",
        "/error": "HTTP 500 from server",
        "/missing": "HTTP 404 from server",
        "/loop": "too many redirects",
        "/slow": "timed out after 1 s",
    }
    assert {h.get("User-Agent", h.get("user-agent")) for _, h in server.requests} == {"newsqa/0.1"}


def test_connection_refused_is_reported():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a"
    assert list(load_sources([url], timeout=1, allow_private=True)) == [
        Failure(url, "connection refused (is the server running?)")
    ]


def test_a_given_client_is_used_and_left_open(server):
    server.routes["/quay"] = (200, HTML, page("Quay library", LONG_BODY))
    with httpx.Client(headers={"User-Agent": "mine"}) as client:
        (article,) = load_sources([server.url("/quay")], client=client, allow_private=True)
        assert not client.is_closed
    assert article.title == "Quay library"
    assert server.requests[0][1]["User-Agent"] == "mine"


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Riverton Gazette</title><link>{base}/</link>
<item><title>Quay library</title><link>{base}/quay</link>
  <pubDate>Mon, 29 Apr 2024 23:30:00 -0500</pubDate></item>
<item><title>Bridge fails</title><link>{base}/error</link>
  <pubDate>Tue, 30 Apr 2024 08:00:00 GMT</pubDate>
  <description>&lt;p&gt;The bridge closed &amp;amp; reopened.&lt;/p&gt;
    &lt;p&gt;Again.&lt;/p&gt;</description></item>
<item><title>Nothing here</title></item>
<item><title>Park</title><link>{base}/park</link></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Harbour Ledger</title>
<entry><title>Quay library</title><link href="/quay"/><updated>2024-04-29T10:00:00Z</updated>
  <author><name>Ann Lee</name></author></entry>
<entry><title>Gone</title><link href="/error"/><updated>2024-04-30T10:00:00Z</updated></entry>
<entry><title>Inline</title><updated>2024-05-01T10:00:00Z</updated>
  <content type="html">&lt;p&gt;Only in the feed.&lt;/p&gt;</content></entry>
</feed>"""


def test_rss_feed_entries_load_and_a_failing_link_is_reported(server):
    server.routes.update({
        "/rss": (200, {"Content-Type": "application/rss+xml"}, RSS.format(base=server.base_url)),
        "/quay": (200, HTML, page("Quay library", LONG_BODY, site="Quay Times")),
        "/park": (200, HTML, page("Park opens", LONG_BODY.replace("library", "park"))),
    })  # fmt: skip
    feed = server.url("/rss")
    articles, failures = load(feed, allow_private=True)
    assert [(a.title, a.source, a.published, a.url) for a in articles] == [
        ("Quay library", "Quay Times", "2024-04-29", server.url("/quay")),
        ("Bridge fails", "Riverton Gazette", "2024-04-30", server.url("/error")),
        ("Park opens", "Riverton Gazette", "", server.url("/park")),
    ]
    assert articles[0].text == LONG_BODY
    assert articles[1].text == "The bridge closed & reopened.\n\nAgain."  # the entry's summary
    assert failures == [
        Failure(server.url("/error"), "HTTP 500 from server; loaded the feed's summary instead"),
        Failure(feed, "entry 3: no link and no content"),
    ]


def test_atom_feed_detected_by_its_content(server):
    server.routes.update({
        "/atom": (200, {"Content-Type": "application/xml"}, ATOM),
        "/quay": (200, HTML, page("Quay library", LONG_BODY)),
    })  # fmt: skip
    articles, failures = load(server.url("/atom"), allow_private=True)
    assert [(a.title, a.source, a.author, a.published, a.url) for a in articles] == [
        ("Quay library", "Harbour Ledger", "Ann Lee", "2024-04-29", server.url("/quay")),
        ("Inline", "Harbour Ledger", "", "2024-05-01", None),
    ]
    assert articles[1].text == "Only in the feed."
    assert failures == [Failure(server.url("/error"), "HTTP 500 from server")]


def test_a_broken_feed_is_reported(server):
    rss = {"Content-Type": "application/rss+xml"}
    server.routes["/cut"] = (200, rss, "<rss><channel>")
    server.routes["/empty"] = (200, rss, "<rss><channel><title>x</title></channel></rss>")
    _, failures = load(server.url("/cut"), server.url("/empty"), allow_private=True)
    assert [f.reason for f in failures] == [
        "not a readable RSS/Atom feed (line 2: no element found)",
        "feed has no entries",
    ]
