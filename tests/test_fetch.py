"""Hostile URLs and servers: what the server may fetch for whoever types a URL or serves a feed.

Every test here runs with `no_network` (conftest.py): a connection to anything but 127.0.0.1 fails
at once, so a check that let a request through shows as a wrong reason, never as a request to a
real address.
"""

from __future__ import annotations

import gzip
import ipaddress
import shutil
import socket
import ssl
import subprocess
import tracemalloc
import zlib

import httpx
import pytest
from helpers import TESLA_ID, FakeChatModel, FakeEmbeddings
from helpers.web import LocalServer, chunked

from qa.chain import NewsQA
from vectorstore.ingest import fetch
from vectorstore.ingest.load import load_sources
from vectorstore.types import Article, Failure, article_id

HTML = {"Content-Type": "text/html; charset=utf-8"}
SECRET = (
    "<html><head><title>Internal</title></head><body><article><p>The admin password is "
    "hunter2, and the database listens on port 5432 of the office network.</p></article>"
    "</body></html>"
)
STORY = (
    "<html><head><title>Quay library</title></head><body><article><p>The council voted on "
    "Monday to build a new library on Quay Street for 12 million dollars.</p></article>"
    "</body></html>"
)
PUBLIC = ipaddress.ip_address("93.184.215.14")  # any global address: only ever compared


pytestmark = pytest.mark.usefixtures("no_network")  # tests/conftest.py


@pytest.fixture
def inside():
    """A server on the machine's own network, with something worth stealing."""
    with LocalServer(slow_seconds=5) as server:
        server.routes["/secret"] = (200, HTML, SECRET)
        yield server


@pytest.fixture
def outside(monkeypatch):
    """A LocalServer that the address rule takes for a public web server on port 80.

    Only this server's address and port are treated so (through `fetch.refusal`, the one rule
    every hop is checked by); every other address and port, 127.0.0.1 included, meets the real
    rule. What a test shows with it: the check is made again on each redirect and each feed link.
    """
    with LocalServer(slow_seconds=5) as server:
        real = getattr(fetch, "refusal", None)

        def refusal(host, ip, port):
            if (str(ip), port) == ("127.0.0.1", server.port):
                ip, port = PUBLIC, 80
            return real(host, ip, port)

        monkeypatch.setattr(fetch, "refusal", refusal, raising=False)
        yield server


def load(*urls, **options) -> list[Article | Failure]:
    return list(load_sources(list(urls), timeout=1, **options))


def reasons(items) -> dict[str, str]:
    return {i.item: i.reason for i in items if isinstance(i, Failure)}


# ------------------------------------------------------------------ SSRF


def test_addresses_on_the_servers_own_network_are_refused(inside):
    literal = [
        "http://127.0.0.1/",
        "http://localhost/admin",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://2852039166/latest/meta-data/",  # 169.254.169.254 as one number
        "http://0x7f.1/",  # 127.0.0.1, in hex and short
        "http://017700000001/",  # 127.0.0.1 in octal
        "http://[::1]/",
        "http://[::ffff:7f00:1]/",
        "http://10.0.0.1/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://[fd00::1]/",
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[2002:a9fe:a9fe::]/",  # 6to4 of 169.254.169.254
    ]
    items = load(inside.url("/secret"), *literal)
    assert not [i for i in items if isinstance(i, Article)]
    said = reasons(items)
    assert set(said) == {inside.url("/secret"), *literal}
    assert all(r.startswith("refused: ") for r in said.values()), said
    assert all("--allow-private-urls" in r for r in said.values())  # the CLI says how to allow
    assert said["http://2852039166/latest/meta-data/"].startswith(
        "refused: 2852039166 is 169.254.169.254, not a public address"
    )
    assert said["http://0x7f.1/"].startswith("refused: 0x7f.1 is 127.0.0.1, not a public address")
    assert inside.requests == []  # nothing was sent, so nothing could be read back


def test_ports_other_than_80_and_443_are_refused(monkeypatch, inside):
    real = getattr(fetch, "refusal", None)
    # 127.0.0.1 taken for a public address, so only the port rule can refuse.
    monkeypatch.setattr(
        fetch,
        "refusal",
        lambda host, ip, port: real(host, PUBLIC if str(ip) == "127.0.0.1" else ip, port),
        raising=False,
    )
    (failure,) = load(inside.url("/secret"))
    assert failure.reason.startswith(f"refused: port {inside.port} (only 80 and 443 are fetched)")
    assert inside.requests == []


def test_every_redirect_hop_is_checked(inside, outside):
    outside.routes.update({
        "/story": (200, HTML, STORY),
        "/to-inside": (302, {"Location": inside.url("/secret")}, b""),
        "/to-metadata": (301, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/to-number": (307, {"Location": "http://2852039166/"}, b""),
        "/hop": (302, {"Location": "/to-inside"}, b""),
    })  # fmt: skip
    story, *redirects = ["/story", "/to-inside", "/to-metadata", "/to-number", "/hop"]
    items = load(*(outside.url(p) for p in [story, *redirects]))
    assert [i.title for i in items if isinstance(i, Article)] == ["Quay library"]
    said = reasons(items)
    assert said[outside.url("/to-inside")].startswith("refused: 127.0.0.1 is not a public address")
    assert said[outside.url("/hop")] == said[outside.url("/to-inside")]
    assert said[outside.url("/to-metadata")].startswith("refused: 169.254.169.254 is not a public")
    assert said[outside.url("/to-number")].startswith("refused: 2852039166 is 169.254.169.254")
    assert inside.requests == []


def test_redirects_are_followed_at_most_max_redirects_times(outside):
    (failure,) = load(outside.url("/loop"))
    assert failure.reason == "too many redirects"
    assert len(outside.requests) == fetch.MAX_REDIRECTS + 1


def test_a_redirect_status_without_a_location_is_a_plain_error(outside):
    outside.routes["/nowhere"] = (302, {"Content-Type": "text/plain"}, b"")
    outside.routes["/unasked"] = (304, {}, b"")  # a 304 to a GET that was not conditional
    assert [f.reason for f in load(outside.url("/nowhere"), outside.url("/unasked"))] == [
        "HTTP 302 from server",
        "HTTP 304 from server",
    ]


def test_a_feeds_links_meet_the_same_rules(inside, outside):
    links = [inside.url("/secret"), "http://169.254.169.254/", "http://2852039166/",
             outside.url("/to-inside"), outside.url("/story")]  # fmt: skip
    items = "".join(
        f"<item><title>Entry {n}</title><link>{link}</link></item>" for n, link in enumerate(links)
    )
    items += (
        "<item><title>Inline</title><link>http://[::1]/</link><description>Only in the feed: "
        "the ferry runs again from Monday.</description></item>"
    )
    outside.routes.update({
        "/feed": (200, {"Content-Type": "application/rss+xml"},
                  f"<rss version='2.0'><channel><title>Wire</title>{items}</channel></rss>"),
        "/story": (200, HTML, STORY),
        "/to-inside": (302, {"Location": inside.url("/secret")}, b""),
    })  # fmt: skip
    got = load(outside.url("/feed"))
    assert [a.title for a in got if isinstance(a, Article)] == ["Quay library", "Inline"]
    said = reasons(got)
    assert set(said) == {*links[:4], "http://[::1]/"}
    assert all(r.startswith("refused: ") for r in said.values()), said
    assert said["http://[::1]/"].endswith("; loaded the feed's summary instead")
    assert inside.requests == []


def test_allow_private_lifts_the_address_and_the_port_rule(inside):
    (article,) = load(inside.url("/secret"), allow_private=True)
    assert article.title == "Internal" and len(inside.requests) == 1


def test_a_checked_name_is_fetched_at_the_address_checked(monkeypatch, outside):
    """DNS rebinding: a name that resolves to a public address when checked and to 127.0.0.1
    when connected. The request goes to the checked address (with the name as its Host), so a
    second lookup never happens."""
    outside.routes["/story"] = (200, HTML, STORY)
    lookups = []
    getaddrinfo = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host != "news.example":
            return getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)  # first answer: this test's "public" server; later: an inside one
        ip = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    (article,) = load(f"http://news.example:{outside.port}/story")
    assert article.title == "Quay library" and lookups == ["news.example"]
    assert outside.requests[0][1]["Host"] == f"news.example:{outside.port}"


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl to make a certificate")
def test_https_to_the_checked_address_still_checks_the_certificate_for_the_name(
    tmp_path, monkeypatch
):
    """The request goes to an address, but TLS is told the name: its certificate must match."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=news.example", "-addext", "subjectAltName=DNS:news.example",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    real, getaddrinfo = fetch.refusal, socket.getaddrinfo

    def example_is_here(host, *args, **kwargs):
        return getaddrinfo("127.0.0.1" if host.endswith(".example") else host, *args, **kwargs)

    with LocalServer({"/story": (200, HTML, STORY)}, tls=tls) as server:
        # news.example and other.example are this server, taken for a public one.
        monkeypatch.setattr(socket, "getaddrinfo", example_is_here)
        monkeypatch.setattr(
            fetch, "refusal", lambda h, ip, port: None if port == server.port else real(h, ip, port)
        )
        good, bad = (f"https://{name}.example:{server.port}/story" for name in ("news", "other"))
        with httpx.Client(verify=ssl.create_default_context(cafile=cert)) as client:
            items = list(load_sources([good, bad], client=client, timeout=3))
    assert items[0].title == "Quay library" and items[0].url == good
    assert "certificate verify failed: Hostname mismatch" in items[1].reason
    assert [h["Host"] for _, h in server.requests] == [f"news.example:{server.port}"]


# ------------------------------------------------------------------ compressed responses


def test_a_gzip_bomb_is_refused_once_decoded_past_the_limit(inside):
    bomb = gzip.compress(b"\0" * 50_000_000, 9)  # 49 KB on the wire
    inside.routes["/bomb"] = (200, {**HTML, "Content-Encoding": "gzip"}, bomb)
    tracemalloc.start()
    try:
        (failure,) = load(inside.url("/bomb"), max_bytes=1_000_000, allow_private=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert failure.reason == "page is over the 1 MB limit once decompressed"
    assert peak < 5_000_000  # decoding stopped near 1 MB; the whole 50 MB was decoded before


def test_stacked_and_unread_encodings_are_refused(inside):
    twice = gzip.compress(gzip.compress(STORY.encode()))
    inside.routes.update({
        "/twice": (200, {**HTML, "Content-Encoding": "gzip, gzip"}, twice),
        "/br": (200, {**HTML, "Content-Encoding": "br"}, b"\x1b\x03\x00\xf8\x8d\x94n\xde"),
        "/zstd": (200, {**HTML, "Content-Encoding": "zstd"}, b"(\xb5/\xfd\x04X\x19\x00\x00"),
    })  # fmt: skip
    said = reasons(load(*(inside.url(p) for p in ["/twice", "/br", "/zstd"]), allow_private=True))
    assert said == {
        inside.url("/twice"): "compressed more than once (Content-Encoding: gzip, gzip); a page "
        "is read only if compressed once, with gzip or deflate",
        inside.url("/br"): "compressed with 'br', which is not read; only gzip and deflate are",
        inside.url("/zstd"): "compressed with 'zstd', which is not read; only gzip and deflate are",
    }
    # Servers are told what is read, so a well-behaved one never sends the rest.
    assert {h["Accept-Encoding"] for _, h in inside.requests} == {"gzip, deflate"}


def test_gzip_and_deflate_pages_load(inside):
    page = STORY.encode()
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # deflate without the zlib header, as some send
    raw_deflate = raw.compress(page) + raw.flush()
    inside.routes.update({
        "/gzip": (200, {**HTML, "Content-Encoding": "gzip"}, gzip.compress(page)),
        "/deflate": (200, {**HTML, "Content-Encoding": "deflate"}, zlib.compress(page)),
        "/raw-deflate": (200, {**HTML, "Content-Encoding": "deflate"}, raw_deflate),
        "/identity": (200, {**HTML, "Content-Encoding": "identity"}, page),
    })  # fmt: skip
    items = load(*(inside.url(p) for p in ["/gzip", "/deflate", "/raw-deflate", "/identity"]),
                 allow_private=True)  # fmt: skip
    assert [(i.title, i.text) for i in items] == [("Quay library", items[0].text)] * 4
    assert "12 million dollars" in items[0].text


def test_compressed_data_that_decodes_to_nothing_is_still_counted(inside):
    """Empty deflate blocks, 5 bytes each on the wire and nothing decoded, sent without a length."""
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
    body = chunked(header + b"\x00\x00\x00\xff\xff" * 400_000)  # 2 MB
    gzipped = {**HTML, "Content-Encoding": "gzip", "Transfer-Encoding": "chunked"}
    inside.routes["/empty-blocks"] = (200, gzipped, body)
    (failure,) = load(inside.url("/empty-blocks"), max_bytes=1_000_000, allow_private=True)
    assert failure.reason == "page is over the 1 MB limit"


# ------------------------------------------------------------------ spoofed ids

TESLA_URL = "https://metrowire.example/business/2024/04/29/tesla-baidu-china-data-rules"
CALLED_OFF = "Tesla called off its mapping deal with Baidu on Monday, a spokesman said in Austin."


def test_a_fetched_page_is_stored_under_the_url_it_came_from(fake_qa, outside):
    """A page naming a stored article's URL (or id) as its own does not replace that article."""
    text = (
        f"Title: Tesla calls off Baidu deal\nSource: Metro Wire\nURL: {TESLA_URL}\n"
        f"ID: {TESLA_ID}\n\n{CALLED_OFF}"
    )
    html = (
        f'<html><head><title>Tesla calls off Baidu deal</title><link rel="canonical" '
        f'href="{TESLA_URL}"><meta property="og:url" content="{TESLA_URL}"></head><body>'
        f"<article><p>{CALLED_OFF} The shares fell.</p></article></body></html>"
    )
    rss = (
        f"<rss version='2.0'><channel><title>Wire</title><item><title>Called off</title>"
        f"<link>{TESLA_URL}</link><description>{CALLED_OFF} Again.</description></item>"
        "</channel></rss>"
    )
    outside.routes.update({
        "/claim.txt": (200, {"Content-Type": "text/plain"}, text),
        "/moved": (301, {"Location": "/claim.txt"}, b""),
        "/claim.html": (200, HTML, html),
        "/feed": (200, {"Content-Type": "application/rss+xml"}, rss),
    })  # fmt: skip
    tesla = {a["id"]: a for a in fake_qa.articles()}[TESLA_ID]
    paths = ["/claim.txt", "/moved", "/claim.html", "/feed"]
    report = fake_qa.ingest([outside.url(p) for p in paths], progress=False)
    assert {a["id"]: a for a in fake_qa.articles()}[TESLA_ID] == tesla
    assert TESLA_ID not in report.updated + report.unchanged
    txt, html_id = (article_id(outside.url(p), "", "") for p in ["/claim.txt", "/claim.html"])
    assert report.added[:2] == [txt, html_id] and report.unchanged == [txt]  # /moved is /claim.txt
    stored = {a["id"]: a for a in fake_qa.articles()}
    assert (stored[txt]["url"], stored[html_id]["url"]) == (outside.url("/claim.txt"),
                                                            outside.url("/claim.html"))  # fmt: skip
    # The feed's entry links to the Tesla URL, which does not load; its summary is kept, under
    # an id of its own (as an entry without a link has), shown with the link the feed gave.
    (summary,) = report.added[2:]
    assert summary.startswith("h") and stored[summary]["url"] == TESLA_URL


# ------------------------------------------------------------------ feeds and request limits


def rss(links: list[str], summary: bool = False) -> tuple[int, dict[str, str], str]:
    """A feed route whose entries link to `links` (with a summary each, if asked)."""
    about = "<description>The ferry runs again from Monday, the harbour office said.</description>"
    items = "".join(
        f"<item><title>Entry {n}</title><link>{link}</link>{about if summary else ''}</item>"
        for n, link in enumerate(links, 1)
    )
    body = f"<rss version='2.0'><channel><title>Wire</title>{items}</channel></rss>"
    return 200, {"Content-Type": "application/rss+xml"}, body


def newsqa(tmp_path, **store) -> NewsQA:
    """A NewsQA with fake models that may fetch from 127.0.0.1, with these store settings."""
    settings = {"path": tmp_path / "store", "allow_private_urls": True, **store}
    return NewsQA({"store": settings}, embeddings=FakeEmbeddings(), chat_model=FakeChatModel())


def test_a_feed_is_read_up_to_100_entries(inside):
    inside.routes["/feed"] = rss([inside.url(f"/gone?n={n}") for n in range(250)])
    items = load(inside.url("/feed"), allow_private=True)
    assert len(inside.requests) == 1 + 100  # the feed, then its first 100 links (all 404)
    assert items[-1] == Failure(
        inside.url("/feed"), "150 of its 250 entries skipped: a feed is read up to 100 entries"
    )
    assert len(items) == 101


def test_an_untrusted_request_fetches_up_to_its_url_limit(tmp_path, inside):
    urls = [inside.url(f"/gone?n={n}") for n in range(8)]
    inside.routes["/feed"] = rss([inside.url(f"/gone?entry={n}") for n in range(5)])
    qa = newsqa(tmp_path, max_urls_per_request=5, max_feed_entries=2)
    report = qa.ingest([inside.url("/feed"), *urls], progress=False, untrusted=True)
    assert len(inside.requests) == 1 + 2 + 4  # the feed, 2 of its entries, 4 more URLs
    assert [f.reason for f in report.failed] == [
        *["HTTP 404 from server"] * 2,
        "3 of its 5 entries skipped: a feed is read up to 2 entries",
        *["HTTP 404 from server"] * 4,
        *["skipped: one ingestion fetches at most 5 URLs"] * 4,
    ]
    inside.requests.clear()  # the command line (not untrusted) fetches every URL it is given
    assert len(qa.ingest(urls, progress=False).failed) == len(inside.requests) == 8


def test_an_untrusted_request_stops_fetching_at_its_deadline(tmp_path):
    with LocalServer(slow_seconds=10) as server:
        server.routes["/feed"] = rss([server.url(f"/slow?n={n}") for n in range(8)], summary=True)
        qa = newsqa(tmp_path, fetch_timeout=1, ingest_deadline=2.5)
        report = qa.ingest([server.url("/feed")], progress=False, untrusted=True)
        slow = [path for path, _ in server.requests if path.startswith("/slow")]
    # Before: every entry was fetched, a second each (8 s). Now at most 3 fit in 2.5 s (fewer if
    # the machine is slow), and each entry not started is reported, its summary stored instead.
    assert 1 <= len(slow) <= 3
    skipped = [f.reason for f in report.failed if f.reason.startswith("skipped")]
    assert skipped == [
        "skipped: the ingestion reached its 2.5 s limit; loaded the feed's summary instead"
    ] * (8 - len(slow))
    assert len(report.added) == 8
