"""Watched feeds (vectorstore/watch.py): a changing feed served from 127.0.0.1, polled."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from helpers import FakeEmbeddings, newsqa
from helpers.web import LocalServer

from qa.chain import NewsQA
from qa.settings import get_settings
from vectorstore.errors import BadInput
from vectorstore.watch import WatchList, parse_every

RSS = "application/rss+xml"
HTML = {"Content-Type": "text/html"}


def feed(*items: tuple[str, str, str], etag: str) -> tuple[int, dict, str]:
    """An RSS feed of (link, title, pubDate) items, served with `etag`."""
    body = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>{date}</pubDate></item>"
        for link, title, date in items
    )
    xml = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Harbor Wire</title>'
        f"{body}</channel></rss>"
    )
    return 200, {"Content-Type": RSS, "ETag": etag}, xml


def page(text: str) -> tuple[int, dict, str]:
    return 200, HTML, f"<html><body><article><p>{text}</p></article></body></html>"


FERRY = "The Harbor Transit board raised the adult ferry fare to $4.50 from July, up from $3.75."
FERRY_NEW = "The Harbor Transit board dropped its fare rise: the adult ferry fare stays at $3.75."
DEPOT = "The city postponed its vote on the new tram depot until May, citing the cost."
BRIDGE = "The Mill Street bridge will stay closed until November, three weeks longer than planned."


@pytest.fixture
def qa(tmp_path):
    settings = get_settings(
        {
            "store": {"path": tmp_path / "store", "allow_private_urls": True},
            "cache_dir": tmp_path / "models",
            "llm": {"provider": "extractive"},
        }
    )
    qa = NewsQA(settings, embeddings=FakeEmbeddings())
    yield qa
    qa.close()


def fetched(server: LocalServer) -> list[str]:
    paths = [path for path, _ in server.requests]
    server.requests.clear()
    return paths


def test_a_watched_feed_adds_new_entries_replaces_changed_ones_and_costs_a_304_when_unchanged(qa):
    with LocalServer() as server:
        url = server.url("/feed")
        server.routes["/a"], server.routes["/b"] = page(FERRY), page(DEPOT)
        server.routes["/feed"] = feed(
            (server.url("/a"), "Ferry fares rise", "Tue, 04 Mar 2025 09:00:00 GMT"),
            (server.url("/b"), "Depot vote delayed", "Sun, 02 Mar 2025 09:00:00 GMT"),
            etag='"v1"',
        )
        state, new = qa.watchlist.add(url)
        assert new and qa.watchlist.add(url)[1] is False  # a second add changes nothing
        watcher = qa.watcher()

        (first,) = watcher.check_due()
        assert not first.error and first.report.counts()["added"] == 2
        assert fetched(server) == ["/feed", "/a", "/b"]
        assert watcher.due() == []  # next poll in watch.every seconds

        # The ferry story is rewritten (a new pubDate), a bridge story appears, the depot one
        # stays as it was: only the two changed entries are fetched again.
        server.routes["/a"], server.routes["/c"] = page(FERRY_NEW), page(BRIDGE)
        server.routes["/feed"] = feed(
            (server.url("/c"), "Bridge closure extended", "Wed, 05 Mar 2025 09:00:00 GMT"),
            (server.url("/a"), "Ferry fare rise dropped", "Wed, 05 Mar 2025 08:00:00 GMT"),
            (server.url("/b"), "Depot vote delayed", "Sun, 02 Mar 2025 09:00:00 GMT"),
            etag='"v2"',
        )
        state = qa.watchlist.get(url)
        second = watcher.check(state)
        assert second.entries_changed == 2
        assert (second.report.counts()["added"], second.report.counts()["updated"]) == (1, 1)
        assert sorted(fetched(server)) == ["/a", "/c", "/feed"]
        rows = qa.articles()
        assert len(rows) == 3  # replaced, not duplicated
        ferry = next(r for r in rows if r["url"] == server.url("/a"))
        assert ferry["title"] == "Ferry fare rise dropped"
        texts = [c.page_content for c in qa.store.iter_chunks()]
        assert any("stays at $3.75" in t for t in texts)
        assert not any("$4.50" in t for t in texts)

        third = watcher.check(qa.watchlist.get(url))
        assert third.not_modified and not third.error
        ((path, headers),) = server.requests
        assert path == "/feed" and headers["If-None-Match"] == '"v2"'
        state = qa.watchlist.get(url)
        assert (state.etag, state.new_articles, state.total_articles) == ('"v2"', 0, 3)
        assert len(qa.articles()) == 3


def test_an_entry_without_a_link_is_replaced_by_its_new_version(qa):
    def summary_feed(text: str) -> tuple[int, dict, str]:
        xml = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Bay Ledger</title><item>'
            f"<title>Fares</title><guid isPermaLink='false'>fares-1</guid>"
            f"<description>{text}</description></item></channel></rss>"
        )
        return 200, {"Content-Type": RSS}, xml

    with LocalServer() as server:
        url = server.url("/feed")
        server.routes["/feed"] = summary_feed(FERRY)
        state, _ = qa.watchlist.add(url)
        watcher = qa.watcher()
        assert watcher.check(state).report.counts()["added"] == 1
        server.routes["/feed"] = summary_feed(FERRY_NEW)
        report = watcher.check(qa.watchlist.get(url)).report
        assert report.counts()["updated"] == 1 and report.counts()["added"] == 0
        assert len(qa.articles()) == 1


def test_a_feed_repeating_one_guid_is_read_once_per_entry(qa):
    with LocalServer() as server:
        server.routes["/a"], server.routes["/b"] = page(FERRY), page(DEPOT)
        twice = (server.url("/a"), "Ferry fares rise", "Tue, 04 Mar 2025 09:00:00 GMT")
        server.routes["/feed"] = feed(
            twice, twice, (server.url("/b"), "Depot", "Sun, 02 Mar 2025"), etag="1"
        )
        state, _ = qa.watchlist.add(server.url("/feed"))
        result = qa.watcher().check(state)
        assert not result.error and result.entries_changed == 2
        assert result.report.counts()["added"] == 2
        assert len(qa.watchlist.get(server.url("/feed")).entries) == 2


def test_a_failing_feed_waits_twice_as_long_after_each_failure_and_recovers(qa):
    now = [1_000_000.0]
    with LocalServer() as server:
        server.routes["/feed"] = (500, {"Content-Type": "text/plain"}, "down")
        url = server.url("/feed")
        qa.watchlist.add(url)
        watcher = qa.watcher(every=600)
        watcher.max_backoff, watcher.clock = 3000, lambda: now[0]
        waits = []
        for _ in range(4):
            state = qa.watchlist.get(url)
            result = watcher.check(state)
            assert result.error == "HTTP 500 from server"
            state = qa.watchlist.get(url)
            waits.append(state.next_check - now[0])
            assert state.last_error == "HTTP 500 from server"
        assert waits == [1200, 2400, 3000, 3000]  # doubled each time, up to max_backoff
        assert watcher.due() == []
        now[0] += 3000
        assert [s.url for s in watcher.due()] == [url]

        server.routes["/a"] = page(FERRY)
        server.routes["/feed"] = feed((server.url("/a"), "Fares", "Tue, 04 Mar 2025"), etag="1")
        assert not watcher.check(qa.watchlist.get(url)).error
        state = qa.watchlist.get(url)
        assert (state.failures, state.last_error, state.next_check) == (0, "", now[0] + 600)


def test_feeds_are_fetched_under_the_rules_of_ingestion(tmp_path):
    settings = get_settings({"store": {"path": tmp_path / "store"}, "cache_dir": tmp_path})
    qa = NewsQA(settings, embeddings=FakeEmbeddings())
    try:
        with LocalServer() as server:
            server.routes["/feed"] = feed((server.url("/a"), "A", "Tue, 04 Mar 2025"), etag="1")
            state, _ = qa.watchlist.add(server.url("/feed"))
            result = qa.watcher().check(state)
            assert result.error.startswith("refused: 127.0.0.1 is not a public address")
            # A feed added from the UI is told as a UI user is told: one reason for all.
            ui_state, _ = qa.watchlist.add(server.url("/feed?ui"), by_ui=True)
            from vectorstore.ingest.fetch import UNREACHABLE

            assert qa.watcher().check(ui_state).error == UNREACHABLE
            assert server.requests == []
    finally:
        qa.close()


def test_the_watch_list_checks_what_it_is_given(tmp_path):
    watchlist = WatchList(tmp_path / "w", max_feeds=2)
    for bad in ("file:///etc/passwd", "ftp://example.com/feed", "not a url", "http://"):
        with pytest.raises(BadInput, match="not a feed address"):
            watchlist.add(bad)
    watchlist.add("https://example.com/a.xml")
    watchlist.add("https://example.com/b.xml")
    with pytest.raises(BadInput, match="2 feeds are watched already"):
        watchlist.add("https://example.com/c.xml")
    assert watchlist.remove("https://example.com/a.xml") is True
    assert watchlist.remove("https://example.com/a.xml") is False
    assert [s.url for s in watchlist.feeds()] == ["https://example.com/b.xml"]
    (tmp_path / "w" / "junk.json").write_text("{not json")  # a damaged file is passed over
    assert [s.url for s in watchlist.feeds()] == ["https://example.com/b.xml"]


def test_durations():
    assert [parse_every(t) for t in ("90s", "15m", "1h", "1d", "600", "1.5h")] == [
        90,
        900,
        3600,
        86400,
        600,
        5400,
    ]
    for bad in ("10s", "0", "soon", "-5m", "15 minutes"):
        with pytest.raises(ValueError):
            parse_every(bad)


def test_newsqa_watch_polls_lists_and_stops_cleanly_on_sigterm(env, tmp_path):
    """The command as a user runs it, with the real embedding model."""
    with LocalServer() as server:
        server.routes["/a"], server.routes["/b"] = page(FERRY), page(DEPOT)
        server.routes["/feed"] = feed(
            (server.url("/a"), "Ferry fares rise", "Tue, 04 Mar 2025 09:00:00 GMT"),
            (server.url("/b"), "Depot vote delayed", "Sun, 02 Mar 2025 09:00:00 GMT"),
            etag='"v1"',
        )
        url = server.url("/feed")
        once = newsqa("watch", url, "--once", "--allow-private-urls", env=env)
        assert once.returncode == 0, once.stderr
        assert f"watching {url}" in once.stdout
        assert "2 new or changed entries: 2 added" in once.stdout
        listed = newsqa("watch", "--list", "--json", env=env)
        (row,) = json.loads(listed.stdout)
        assert (row["url"], row["new_articles"], row["entries"], row["etag"]) == (url, 2, 2, '"v1"')
        bad = newsqa("watch", url, "--every", "5s", env=env)
        assert bad.returncode == 2 and "at most once a minute" in bad.stderr

        # Due again at once (its next check moved back): the running watcher polls, gets a 304
        # and waits an hour, until SIGTERM ends the wait.
        state_file = next((tmp_path / "store" / "watched-feeds").glob("*.json"))
        state = json.loads(state_file.read_text())
        state_file.write_text(json.dumps({**state, "next_check": 0}))
        log = tmp_path / "watch.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "qa.cli", "watch", "--every", "1h", "--allow-private-urls"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            deadline = time.monotonic() + 120
            while "not modified" not in log.read_text() and proc.poll() is None:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            proc.terminate()
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        assert log.read_text().rstrip().endswith("stopped")
        assert json.loads(state_file.read_text())["next_check"] > time.time() + 3000
        removed = newsqa("watch", "--remove", url, env=env)
        assert removed.returncode == 0 and f"no longer watching {url}" in removed.stdout
        assert json.loads(newsqa("watch", "--list", "--json", env=env).stdout) == []
