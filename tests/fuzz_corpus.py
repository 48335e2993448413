"""A seeded corpus of malformed inputs with valid articles mixed in, and what each must give.

    corpus = make_corpus(tmp_path / "in", count=240, seed=7, base_url=server.base_url)
    server.routes.update(corpus.routes)      # server: a tests/helpers/web.py LocalServer
    report = store.ingest(load_sources(corpus.sources, timeout=1, allow_private=True))
    outcome = check(corpus, report.failed, store)

`corpus.failures` holds one `Fail` per malformed input: the `Failure.item` that must name it (a
path, a URL, or a JSON line's "path:line n" when the store refuses it) and words its reason must
contain. `corpus.stored` holds one `Keep` per valid article: its title and a word only its text
has. Without `base_url` only files are made. Used by tests/test_fuzz.py and
scripts/stress_fuzz.py; the 10 MB inputs assume the store's default 2,000,000-character limit.
"""

from __future__ import annotations

import json
import os
import random
import socket
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

Route = tuple[int, dict[str, str], bytes | str]
HTML = {"Content-Type": "text/html; charset=utf-8"}
RSS = {"Content-Type": "application/rss+xml"}
_VOCABULARY = """council harbour bridge budget river school market transit union court ferry
museum library clinic station festival weather port factory tenants workers mayor rail tunnel
election water price wages storm garden police hospital airport farmers teachers bakery repairs"""
WORDS = _VOCABULARY.split()
NO_BODY = [
    "<html><head><title>Only a title here</title></head></html>",
    "<html><body></body></html>",
    "<!DOCTYPE html>",
    "<html><body><nav><a href='/'>Home</a> <a href='/sport'>Sport</a></nav></body></html>",
    "<html><body><script>var a = 1;</script></body></html>",
    "<html><head><title>T</title></head><body>   </body></html>",
]
BAD_JSON = ['{"title": "x", "text": "y",}', "{'text': 'single quotes'}", '{"text": "cut off',
            '{"text" "no colon"}', "text: not json", '{"text": "a"} trailing', "[1, 2"]  # fmt: skip
# Bad articles inside a JSON list (or alone in a file): the value and words of the reason.
BAD_ITEMS: list[tuple[object, tuple[str, ...]]] = [
    ({"title": "no text here"}, ("missing 'text'",)),
    ({"text": 7}, ("'text' must be a string", "a number")),
    ({"text": "   "}, ("'text' is empty",)),
    ({"text": "Some words here.", "published": "next week"}, ("'next week' is not a date",)),
    ({"text": "Some words here.", "authors": "Ann Lee"}, ("'authors' must be a list",)),
    ({"text": "Some words here.", "url": 5}, ("'url' must be a string",)),
    ({"text": "half \ud800 a pair"}, ("surrogate", "\\ud800")),
    ("a string", ("not a JSON object", "a string")),
    ([1, 2], ("not a JSON object", "a list")),
]
# Bad JSON lines: bytes and words of the reason (the line's "line n:" is added).
BAD_LINES: list[tuple[bytes, tuple[str, ...]]] = [
    (b'{"title": "x" "text": "y"}', ("invalid JSON", "Expecting ','")),
    (b'{"text": "cut off', ("invalid JSON", "column")),  # with CRLF: "Invalid control character"
    (b"[" * 5000 + b"]" * 5000, ("nested too deeply",)),
    (b'{"text": "caf\xe9 au lait"}', ("not valid UTF-8", "0xe9")),  # + its byte offset
    (b'{"text": "x", "id": ' + b"9" * 5000 + b"}", ("invalid JSON", "digits")),
    (b'{"text": "a\\ud800b"}', ("surrogate",)),
    *((json.dumps(v).encode(), w) for v, w in BAD_ITEMS),
]
FEED_ENTRIES = ["good", "good", "error", "error+summary", "empty", "summary", "404", "loop",
                "self", "bad-ref"]  # fmt: skip
WITH_SUMMARY = ("error+summary", "summary", "bad-ref")
ENTRY_WORDS = {"error": ("HTTP 500",), "error+summary": ("HTTP 500", "summary instead"),
               "404": ("HTTP 404",), "loop": ("too many redirects",), "self": ("is a feed",),
               "empty": ("entry {n}:", "no link and no content")}  # fmt: skip


@dataclass(frozen=True)
class Fail:
    kind: str
    item: str  # the Failure.item that must name the input
    words: tuple[str, ...]  # each must be in the reason (any case)
    extra: bool = False  # from `Corpus.extra` (a URL, an odd source), not from the folder


@dataclass(frozen=True)
class Keep:
    kind: str
    title: str
    marker: str  # a word that only this article's text has
    extra: bool = False


@dataclass
class Corpus:
    folder: Path
    extra: list[str] = field(default_factory=list)  # URLs and odd sources beside the folder
    routes: dict[str, Route] = field(default_factory=dict)
    failures: list[Fail] = field(default_factory=list)
    stored: list[Keep] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        return [str(self.folder), *self.extra]


def html_page(title: str, body: str) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<nav><a href='/'>Home</a></nav><article><h1>{title}</h1>{paragraphs}</article>"
        "<footer>Fuzz Gazette</footer></body></html>"
    )


class Maker:
    """Writes inputs and records what each must give. Each `m_*` method makes one kind."""

    def __init__(self, folder: Path, rng: random.Random, base_url: str | None, huge_mb: int):
        self.rng, self.base, self.huge_mb, self.n = rng, base_url, huge_mb, 0
        self.corpus = Corpus(folder)
        folder.mkdir(parents=True, exist_ok=True)

    # -------------------------------------------------------------- records and names

    def fail(self, kind: str, item: str, *words: str) -> None:
        extra = not item.startswith(f"{self.corpus.folder}{os.sep}")
        self.corpus.failures.append(Fail(kind, item, words, extra))

    def keep(self, kind: str, title: str, marker: str, extra: bool = False) -> None:
        self.corpus.stored.append(Keep(kind, title, marker, extra))

    def path(self, kind: str, suffix: str) -> Path:
        """A new file name; one in five goes a folder down."""
        self.n += 1
        sub = f"sub{self.rng.randrange(4)}/" if self.rng.random() < 0.2 else ""
        path = self.corpus.folder / f"{sub}{self.n:05d}-{kind}{suffix}"
        path.parent.mkdir(exist_ok=True)
        return path

    def write(self, kind: str, suffix: str, data: bytes | str) -> str:
        path = self.path(kind, suffix)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(path)

    def url(self, kind: str, route: Route | None = None) -> str:
        """A new URL: a route of ours, or (no route) one of LocalServer's own (/slow, ...)."""
        self.n += 1
        if route is None:
            return f"{self.base}/{kind}?n={self.n}"
        self.corpus.routes[f"/fz/{self.n:05d}-{kind}"] = route
        return f"{self.base}/fz/{self.n:05d}-{kind}"

    def served(self, kind: str, route: Route, *words: str) -> None:
        """A URL to ingest that must fail with `words`."""
        url = self.url(kind, route)
        self.corpus.extra.append(url)
        self.fail(kind, url, *words)

    # -------------------------------------------------------------- text

    def article(self) -> tuple[str, str, str]:
        """(title, body, marker): a unique title, 2-4 paragraphs, a unique word in the body."""
        self.n += 1
        rng, marker = self.rng, f"fzmark{self.n:05d}"
        title = " ".join(rng.choice(WORDS).capitalize() for _ in range(4)) + f" {self.n}"
        paragraphs = [" ".join(self.sentence() for _ in range(rng.randint(2, 4)))
                      for _ in range(rng.randint(2, 4))]  # fmt: skip
        paragraphs[0] += f" The case number was {marker}."
        return title, "\n\n".join(paragraphs), marker

    def sentence(self) -> str:
        return " ".join(self.rng.choices(WORDS, k=self.rng.randint(8, 16))).capitalize() + "."

    def header_text(self, title: str, body: str, published: str = "2024-05-06") -> str:
        """The samples/news format: `Key: value` lines, a blank line, the article."""
        return (f"Title: {title}\nSource: Fuzz Gazette\nAuthor: Ada Quill\n"
                f"Published: {published}\n\n{body}\n")  # fmt: skip

    def record(self, title: str, body: str) -> dict:
        return {"id": f"fz-{self.n}", "title": title, "source": "Fuzz Wire",
                "published": "2024-06-01", "text": body}  # fmt: skip

    def noise(self, low: int, high: int) -> bytes:
        """Random bytes with a NUL near the start, as in any binary format."""
        data = bytearray(self.rng.randbytes(self.rng.randint(low, high)))
        data.insert(self.rng.randrange(min(len(data), 64) + 1), 0)
        return bytes(data)

    # -------------------------------------------------------------- valid files

    def m_text(self) -> None:
        title, body, marker = self.article()
        self.write("text", ".txt", self.header_text(title, body))
        self.keep("text", title, marker)

    def m_markdown(self) -> None:
        title, body, marker = self.article()
        front = self.rng.random() < 0.5
        head = f"---\ntitle: {title}\nsource: Fuzz Gazette\n---\n\n" if front else f"# {title}\n\n"
        self.write("markdown", ".md", head + body.replace(" The ", " [The](https://x.example) ", 1))
        self.keep("markdown", title, marker)

    def m_html_file(self) -> None:
        title, body, marker = self.article()
        self.write("html", ".html", html_page(title, body))
        self.keep("html", title, marker)

    def m_bom(self) -> None:
        title, body, marker = self.article()
        codec = self.rng.choice(["utf-8-sig", "utf-16"])
        self.write("bom", ".txt", self.header_text(title, body).encode(codec))
        self.keep("bom", title, marker)

    def m_brackets(self) -> None:
        """Markdown with 20,000 unclosed "[" and "![": slow to take apart if done naively."""
        title, body, marker = self.article()
        junk = "[" * 20_000 + "\n\n" + "![a](" * 5_000 + "\n\n# x" + "#" * 20_000 + "y"
        self.write("brackets", ".md", f"# {title}\n\n{body}\n\n{junk}")
        self.keep("brackets", title, marker)

    def m_bad_name(self) -> None:
        """Names that are not UTF-8: a valid article, and an empty file named as \\xe9."""
        title, body, marker = self.article()
        good = self.path("name-caf", ".txt")
        Path(os.fsdecode(os.fsencode(good)[:-4] + b"\xe9.txt")).write_text(
            self.header_text(title, body)
        )
        self.keep("bad name", title, marker)
        bad = self.path("name-caf", ".txt")
        Path(os.fsdecode(os.fsencode(bad)[:-4] + b"\xe9.txt")).write_bytes(b"")
        self.fail("bad name", str(bad)[:-4] + "\\xe9.txt", "empty file")

    # -------------------------------------------------------------- malformed files

    def m_empty(self) -> None:
        suffix = self.rng.choice([".txt", ".md", ".html", ".json", ".jsonl", ""])
        self.fail("empty", self.write("empty", suffix, b""), "empty file")

    def m_blank(self) -> None:
        suffix = self.rng.choice([".txt", ".md", ".html", ".json", ".jsonl", ""])
        blank = "".join(self.rng.choices(" \t\n\r", k=self.rng.randint(1, 300)))
        self.fail("blank", self.write("blank", suffix, blank), "empty")

    def m_binary(self) -> None:
        suffix = self.rng.choice([".txt", ".md", ".html", ".json", ".jsonl", ".jpg", ".bin", ""])
        head = self.rng.choice([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"PK\x03\x04", b""])
        self.fail("binary", self.write("binary", suffix, head + self.noise(16, 4000)), "binary")

    def m_utf16_no_bom(self) -> None:
        data = self.header_text(*self.article()[:2]).encode("utf-16-le")
        self.fail("utf-16", self.write("utf16", ".txt", data), "binary")

    def m_truncated_utf8(self) -> None:
        """Cut inside a multi-byte character: the reason names the byte it starts at."""
        title, body, _ = self.article()
        data = self.header_text(title, body + " Café owners paid €5 for naïve ✓ über 𝄞.").encode()
        start = self.rng.choice([i for i, b in enumerate(data) if b >= 0xC0])
        size = 2 if data[start] < 0xE0 else 3 if data[start] < 0xF0 else 4
        suffix = self.rng.choice([".txt", ".md", ".html", ".json"])
        path = self.write("cut-utf8", suffix, data[: start + self.rng.randint(1, size - 1)])
        self.fail("truncated utf-8", path, "not valid UTF-8", f"byte {start} (0x{data[start]:02x})")

    def m_latin1(self) -> None:
        title, body, _ = self.article()
        data = self.header_text(title, body + " Le café était fermé.").encode("latin-1")
        path, at = self.write("latin1", self.rng.choice([".txt", ".md"]), data), data.index(0xE9)
        self.fail("latin-1", path, "not valid UTF-8", f"byte {at} (0xe9)")

    def m_nested_json(self) -> None:
        depth = self.rng.randint(1_100, 200_000)
        opener, closer = self.rng.choice([("[", "]"), ('{"a":', "}")])
        data = opener * depth + ("1" if opener != "[" else "") + closer * depth
        self.fail("nested json", self.write("nested", ".json", data), "nested too deeply")

    def m_invalid_json(self) -> None:
        path = self.write("invalid", ".json", self.rng.choice(BAD_JSON))
        self.fail("invalid json", path, "invalid JSON", "column")

    def m_json_shape(self) -> None:
        value, words = self.rng.choice([*BAD_ITEMS[:7], ("text", ("not a JSON object",)),
                                        (None, ("null",)), ([], ("list is empty",))])  # fmt: skip
        self.fail("json shape", self.write("shape", ".json", json.dumps(value)), *words)

    def m_json_list(self) -> None:
        items, pending = [], []
        for n in range(1, self.rng.randint(3, 7)):
            if self.rng.random() < 0.5:
                title, body, marker = self.article()
                items.append(self.record(title, body))
                self.keep("json list", title, marker)
            else:
                item, words = self.rng.choice(BAD_ITEMS)
                items.append(item)
                pending.append((f"item {n}:", *words))
        if not pending:
            items.append({"title": "no text"})
            pending.append((f"item {len(items)}:", "missing 'text'"))
        path = self.write("json-list", ".json", json.dumps(items))
        for words in pending:
            self.fail("json list", path, *words)

    def m_json_lines(self, huge: bool = False) -> None:
        """Good lines, bad lines and blank ones, shuffled; with `huge`, one 10 MB article too."""
        rng = self.rng
        entries = ["good"] * rng.randint(0, 3) + ["bad"] * rng.randint(1, 4)
        entries += ["blank"] * rng.randint(0, 2) + ["huge"] * huge
        rng.shuffle(entries)
        eol = rng.choice([b"\n", b"\r\n"])
        path, data, pending = self.path("lines", ".jsonl"), b"", []
        for n, what in enumerate(entries, 1):
            if what == "good":
                title, body, marker = self.article()
                line = json.dumps(self.record(title, body)).encode()
                self.keep("json lines", title, marker)
            elif what == "bad":
                line, words = rng.choice(BAD_LINES)
                if 0xE9 in line:  # the reason names the byte's offset in the file
                    words = (*words, f"byte {len(data) + line.index(0xE9)} ")
                pending.append((f"line {n}:", *words))
            elif what == "huge":
                line = json.dumps({"text": "words " * (self.huge_mb * 1_000_000 // 6)}).encode()
                self.fail("json lines", f"{path}:line {n}", "characters", "over the limit")
            else:
                line = rng.choice([b"", b"   "])
            data += line + eol
        path.write_bytes(data)
        for words in pending:
            self.fail("json lines", str(path), *words)

    def m_huge_text(self) -> None:
        """A single 10 MB line: loaded in bounded memory, then refused by the store as too long."""
        path = self.write("huge", ".txt", "words " * (self.huge_mb * 1_000_000 // 6))
        self.fail("huge text", path, "characters", "over the limit")

    def m_no_body_html(self) -> None:
        self.fail("html no body", self.write("nobody", ".html", self.rng.choice(NO_BODY)),
                  "no main text")  # fmt: skip

    def m_nested_html(self) -> None:
        depth = self.rng.randint(1_000, 100_000)
        data = "<html><body>" + "<div>" * depth + "three words here" + "</div>" * depth
        self.fail("nested html", self.write("nested", ".html", data), "no main text")

    def m_no_text(self) -> None:
        title = self.article()[0]
        heading = (f"# {title}\n\n![photo](a.jpg)\n", ".md")
        data, suffix = self.rng.choice([heading, (f"Title: {title}\nSource: Fuzz\n", ".txt")])
        self.fail("no text", self.write("notext", suffix, data), "no article text")

    def m_bad_date(self) -> None:
        title, body, _ = self.article()
        date = self.rng.choice(["next week", "someday", "31/31/2024", "yesterday-ish"])
        path = self.write("bad-date", ".txt", self.header_text(title, body, date))
        self.fail("bad date", path, f"'{date}' is not a date")

    def m_saved_feed(self) -> None:
        feed = "<?xml version='1.0'?><rss><channel><title>x</title></channel></rss>"
        path = self.write("feed", self.rng.choice([".xml", ".rss"]), feed)
        self.fail("saved feed", path, "saved RSS/Atom feed")

    def m_dangling_link(self) -> None:
        path = self.path("dangling", ".txt")
        path.symlink_to(path.parent / "nowhere.txt")
        self.fail("dangling link", str(path), "no such file")

    # -------------------------------------------------------------- the web

    def m_good_page(self) -> None:
        title, body, marker = self.article()
        page: Route = (200, HTML, html_page(title, body))
        if self.rng.random() < 0.3:  # reached through a redirect
            page = (301, {"Location": self.url("page", page).removeprefix(self.base)}, b"")
        self.corpus.extra.append(self.url("page", page))
        self.keep("page", title, marker, extra=True)

    def m_special(self, name: str, *words: str) -> None:
        self.corpus.extra.append(url := self.url(name))
        self.fail(name, url, *words)

    def m_bad_pages(self) -> None:
        title, body, _ = self.article()
        page = html_page(title, body).encode()
        kind, route, words = self.rng.choice([
            ("short", (200, {**HTML, "Content-Length": str(len(page) + 99)}, page), "cut short"),
            ("gzip", (200, {**HTML, "Content-Encoding": "gzip"}, page), "decompressed"),
            ("empty", (200, HTML, self.rng.choice([b"", b" \n "])), "empty response"),
            ("binary", (200, HTML, self.noise(10, 3000)), "binary page"),
            ("octets", (200, {"Content-Type": "application/octet-stream"}, self.noise(10, 99)),
             "unsupported content type"),
            ("nobody", (200, HTML, self.rng.choice(NO_BODY)), "no main text"),
            ("ftp", (302, {"Location": "ftp://x.example/a"}, b""), "unsupported URL scheme"),
            ("cut-feed", (200, RSS, "<rss><channel><title>Cut"), "not a readable RSS/Atom feed"),
            ("no-entries", (200, RSS, "<rss><channel><title>x</title></channel></rss>"),
             "feed has no entries"),
        ])  # fmt: skip
        self.served(kind, route, words)

    def m_feed(self) -> None:
        """A feed whose entries fail in every way, among good ones."""
        self.n += 1
        path = f"/fz/{self.n:05d}-feed"
        feed, items = self.base + path, []
        for n in range(1, self.rng.randint(3, 8)):
            title, body, marker = self.article()
            how = self.rng.choice(FEED_ENTRIES)
            link = self.entry_link(how, title, body, feed)
            summary = escape("".join(f"<p>{p}</p>" for p in body.split("\n\n")))
            if how == "bad-ref":  # one bad character reference once lost the whole feed
                summary += " &#xD800; &#x110000;"
            parts = [
                f"<title>{title}</title>",
                f"<link>{link}</link>" if link else "",
                f"<description>{summary}</description>" if how in WITH_SUMMARY else "",
            ]
            items.append(f"<item>{''.join(parts)}</item>")
            if how in WITH_SUMMARY or how == "good":
                self.keep("feed entry", title, marker, extra=True)
            if how in ENTRY_WORDS:
                self.fail("feed entry", link or feed, *(w.format(n=n) for w in ENTRY_WORDS[how]))
        channel = f"<channel><title>Fuzz Feed</title>{''.join(items)}</channel>"
        self.corpus.routes[path] = (200, RSS, f"<rss version='2.0'>{channel}</rss>")
        self.corpus.extra.append(feed)

    def entry_link(self, how: str, title: str, body: str, feed: str) -> str:
        if how == "good":
            return self.url("page", (200, HTML, html_page(title, body)))
        if how in ("error", "error+summary", "loop"):
            return self.url(how.removesuffix("+summary"))
        if how == "404":
            return f"{self.base}/fz/missing-{self.n}"
        return feed if how == "self" else ""


FILE_KINDS = {  # name -> (weight; 0: made 1 + count // 1000 times, not drawn), maker
    "text": (6, Maker.m_text), "markdown": (3, Maker.m_markdown), "html": (2, Maker.m_html_file),
    "bom": (1, Maker.m_bom), "brackets": (1, Maker.m_brackets), "bad name": (1, Maker.m_bad_name),
    "empty": (3, Maker.m_empty), "blank": (2, Maker.m_blank), "binary": (4, Maker.m_binary),
    "utf-16": (1, Maker.m_utf16_no_bom), "truncated utf-8": (3, Maker.m_truncated_utf8),
    "latin-1": (2, Maker.m_latin1), "nested json": (2, Maker.m_nested_json),
    "invalid json": (3, Maker.m_invalid_json), "json shape": (3, Maker.m_json_shape),
    "json list": (2, Maker.m_json_list), "json lines": (4, Maker.m_json_lines),
    "html no body": (2, Maker.m_no_body_html), "nested html": (1, Maker.m_nested_html),
    "no text": (2, Maker.m_no_text), "bad date": (2, Maker.m_bad_date),
    "saved feed": (1, Maker.m_saved_feed), "dangling link": (1, Maker.m_dangling_link),
    "huge text": (0, Maker.m_huge_text),
    "huge json line": (0, lambda m: m.m_json_lines(huge=True)),
}  # fmt: skip
WEB_KINDS = {
    "page": (4, Maker.m_good_page), "bad page": (6, Maker.m_bad_pages), "feed": (3, Maker.m_feed),
    "error": (1, lambda m: m.m_special("error", "HTTP 500")),
    "loop": (1, lambda m: m.m_special("loop", "too many redirects")),
    "hangup": (1, lambda m: m.m_special("hangup", "cut short or malformed")),
    "404": (1, lambda m: m.m_special("fz/missing", "HTTP 404")),
    "slow": (0, lambda m: m.m_special("slow", "timed out")),
    "trickle": (0, lambda m: m.m_special("trickle", "timed out")),
}  # fmt: skip


def make_corpus(
    folder: Path, count: int = 240, seed: int = 0, base_url: str | None = None, huge_mb: int = 10
) -> Corpus:
    """Write at least `count` malformed inputs (and valid articles among them) below `folder`."""
    maker = Maker(Path(folder), random.Random(seed), base_url, huge_mb)
    kinds = FILE_KINDS | (WEB_KINDS if base_url else {})
    if base_url:
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            refused = f"http://127.0.0.1:{s.getsockname()[1]}/gone"
        odd = {
            str(Path(folder).parent / "no-such-file.txt"): "no such file or folder",
            "ftp://x.example/a": "unsupported URL scheme",
            refused: "connection refused",
        }
        for source, reason in odd.items():
            maker.corpus.extra.append(source)
            maker.fail("odd source", source, reason)
    rare = [name for name, (weight, _) in kinds.items() if weight == 0]
    common = [name for name in kinds if name not in rare]
    for name in rare * (1 + count // 1000) + common:  # every kind at least once
        kinds[name][1](maker)
    weights = [kinds[name][0] for name in common]
    while len(maker.corpus.failures) < count:
        kinds[maker.rng.choices(common, weights)[0]][1](maker)
    return maker.corpus


def _says(reason: str, words: tuple[str, ...]) -> bool:
    return all(word.lower() in reason.lower() for word in words)


def check(corpus: Corpus, failed: list, store, folder_only: bool = False) -> dict:
    """A report's failures and a NewsStore's articles, matched against the manifest.

    Counts, and the mismatches: expected failures not reported, failures not expected, articles
    missing or stored without their text, articles stored that are not expected (or twice).
    `folder_only` leaves out what the URLs and odd sources give.
    """
    wanted = [f for f in corpus.failures if not (folder_only and f.extra)]
    said = defaultdict(list)
    for failure in failed:
        said[failure.item].append(failure)
    missing = []
    for want in wanted:
        match = [f for f in said[want.item] if _says(f.reason, want.words)]
        if match:
            said[want.item].remove(match[0])
        else:
            missing.append(want)
    texts = defaultdict(str)
    for chunk in store.iter_chunks():
        texts[chunk.metadata["article_id"]] += chunk.page_content
    rows = store.articles()
    by_title = {row["title"]: row for row in rows}
    keeps = [k for k in corpus.stored if not (folder_only and k.extra)]
    absent = [k for k in keeps if k.marker not in texts[by_title.get(k.title, {}).get("id")]]
    titles = Counter(row["title"] for row in rows)
    expected_titles = {k.title for k in keeps}
    extra = [t for t, n in titles.items() if t not in expected_titles or n > 1]
    return {
        "failed_as_expected": len(wanted) - len(missing),
        "stored_as_expected": len(keeps) - len(absent),
        "expected_failures": len(wanted),
        "expected_articles": len(keeps),
        "missing_failures": missing,
        "unexpected_failures": [f for fs in said.values() for f in fs],
        "missing_articles": absent,
        "unexpected_articles": extra,
    }
