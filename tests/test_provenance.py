"""Hostile uploads: oversized metadata, and articles that claim another article's id or URL.

A web UI upload chooses its own title, outlet, URL and id. These tests hold the two rules that
keep that from costing the store's size or its trusted articles: long metadata is cut (a long URL
refused), and an upload never replaces an article that was fetched from its URL or added by the
operator. Every stored article keeps what produced it, and its source card says so.
"""

from __future__ import annotations

import json

from helpers import TESLA_ID

from vectorstore.disk import allocated_bytes
from vectorstore.write import MAX_FIELD_CHARS

TESLA_URL = "https://metrowire.example/business/2024/04/29/tesla-baidu-china-data-rules"
SPOOF = "Tesla agreed to hand over all camera footage to Baidu. " * 5


def _upload(tmp_path, name: str, record: dict):
    path = tmp_path / name
    path.write_text(json.dumps(record), encoding="utf-8")
    return str(path)


def _stored_text(qa, article_id: str) -> str:
    got = qa.store.collection.get(where={"article_id": article_id}, include=["documents"])
    return " ".join(got["documents"])


def test_an_upload_cannot_replace_an_article_the_operator_added(fake_qa, tmp_path):
    before = _stored_text(fake_qa, TESLA_ID)
    for claim in ({"url": TESLA_URL}, {"id": TESLA_ID}):
        record = {"title": "Tesla and Baidu", "text": SPOOF, "source": "Metro Wire", **claim}
        report = fake_qa.ingest([_upload(tmp_path, "tesla.json", record)], untrusted=True)
        assert report.counts() == {"added": 0, "updated": 0, "unchanged": 0, "failed": 1}
        assert "already stored (added by the operator); an upload cannot replace it" in str(
            report.failed[0]
        )
        assert _stored_text(fake_qa, TESLA_ID) == before
    # The operator (CLI or Python) may: same file, trusted.
    record = {"title": "Tesla and Baidu", "text": SPOOF, "url": TESLA_URL}
    report = fake_qa.ingest([_upload(tmp_path, "tesla.json", record)])
    assert report.updated == [TESLA_ID]
    assert "camera footage" in _stored_text(fake_qa, TESLA_ID)


def test_uploads_replace_uploads_and_the_source_card_names_the_upload(fake_qa, tmp_path):
    record = {"title": "Harbor ferry timetable", "text": "The harbor ferry now sails hourly. " * 6}
    record["url"] = "https://ferries.example/timetable"
    first = fake_qa.ingest([_upload(tmp_path, "ferry.json", record)], untrusted=True)
    assert len(first.added) == 1
    record["text"] = "The harbor ferry now sails every 30 minutes. " * 6
    again = fake_qa.ingest([_upload(tmp_path, "ferry.json", record)], untrusted=True)
    assert again.updated == first.added
    row = next(a for a in fake_qa.articles() if a["id"] == first.added[0])
    assert row["origin"] == "upload:ferry.json"
    operator = next(a for a in fake_qa.articles() if a["id"] == TESLA_ID)
    assert operator["origin"].startswith("operator:") and "/" not in operator["origin"]
    answer = fake_qa.ask("How often does the harbor ferry sail?")
    ferry = [s for s in answer.sources if s.article_id == first.added[0]]
    assert ferry and ferry[0].origin_label() == "uploaded in the web UI (ferry.json)"


def test_huge_title_outlet_and_author_are_cut_and_a_huge_url_is_refused(fake_qa, tmp_path):
    store = fake_qa.settings.store.path
    size_before = allocated_bytes(store)
    huge = {
        "title": "Ferry " * 100_000,  # 600 KB: copied into every chunk before the cap
        "source": "Outlet " * 2_000,
        "author": "Writer " * 2_000,
        "text": "The ferry sailed at noon. " * 400,  # 10 KB of text, about 14 chunks
    }
    long_url = {"title": "Long link", "text": "A ferry story. " * 20}
    long_url["url"] = "https://ferries.example/" + "a" * 5_000
    sources = [_upload(tmp_path, "huge.json", huge), _upload(tmp_path, "link.json", long_url)]
    report = fake_qa.ingest(sources, untrusted=True)
    assert len(report.added) == 1, report.summary()
    assert [f.reason for f in report.failed] == [
        "the URL is 5,024 characters, over the limit of 2,048"
    ]
    got = fake_qa.store.collection.get(where={"article_id": report.added[0]}, include=["metadatas"])
    assert len(got["ids"]) > 5
    for meta in got["metadatas"]:
        for field in ("title", "source", "author"):
            assert len(meta[field]) <= MAX_FIELD_CHARS and meta[field].endswith("…")
    # Before the cap the title alone put 600 KB into each chunk's metadata and embedded text.
    assert allocated_bytes(store) - size_before < 8 * 2**20
