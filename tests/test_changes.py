"""Several processes on one Chroma server: each one's keyword index and article listing see the
others' writes (the change log, vectorstore/changes.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from qa.retrieve import make_retriever
from qa.settings import get_settings
from vectorstore import changes
from vectorstore.store import NewsStore
from vectorstore.types import Article

STORY = (
    "The Harbourside ferry company said on Monday that its new electric boat, the Quillwort, "
    "will carry its first passengers across the estuary in June. "
)
UPDATE = "The Quillwort's first crossing moved to July after a battery fault, the company said. "


def server_settings(tmp_path, name: str, port: int, **store):
    return get_settings(
        {
            "store": {
                "path": tmp_path / name,
                "chroma_host": "127.0.0.1",
                "chroma_port": port,
                **store,
            },
            "cache_dir": tmp_path / "models",
        }
    )


def opened(tmp_path, name, server, fake_embeddings, **store):
    """A store and hybrid retriever as one process sharing the server would have them."""
    settings = server_settings(tmp_path, name, server.port, **store)
    store = NewsStore(settings.store, fake_embeddings)
    return store, make_retriever(store, settings.retrieval)


def ferry(text: str) -> Article:
    return Article(
        title="Electric ferry",
        text=text,
        source="Estuary Post",
        published="2026-11-30",
        url="https://estuary.example/ferry",
    )


def test_a_write_by_one_process_reaches_the_others_keyword_index_before_its_next_search(
    tmp_path, chroma_server, fake_embeddings
):
    writer, _ = opened(tmp_path, "writer", chroma_server, fake_embeddings)
    reader, retriever = opened(tmp_path, "reader", chroma_server, fake_embeddings)
    assert retriever.store.keyword.search("Quillwort", 5) == []

    article = ferry(STORY * 12)  # several chunks
    report = writer.ingest([article], progress=False)
    assert report.added == [article.id] and report.chunks_written > 2
    assert retriever.store.keyword.search("Quillwort", 5) == []  # not read yet: nothing polls
    found = retriever.retrieve("Quillwort electric ferry", 3)
    assert found and found[0][0].metadata["article_id"] == article.id
    first = {cid for cid, _ in retriever.store.keyword.search("Quillwort", 50)}
    assert len(first) == report.chunks_written
    assert [a["id"] for a in reader.articles()] == [article.id]

    # A shorter second version: its words replace the first's, and its extra chunks go.
    shorter = ferry(UPDATE * 2)
    assert writer.ingest([shorter], progress=False).updated == [article.id]
    reader.refresh()
    assert {cid for cid, _ in retriever.store.keyword.search("Quillwort", 50)} == {
        f"{article.id}:0"
    }
    assert retriever.store.keyword.search("July battery", 5)[0][0] == f"{article.id}:0"
    assert retriever.store.keyword.search("estuary passengers", 5) == []
    assert reader.articles()[0]["chunks"] == 1


def test_the_article_listing_is_read_once_until_a_write(tmp_path, fake_embeddings, monkeypatch):
    settings = get_settings({"store": {"path": tmp_path / "store"}})
    store = NewsStore(settings.store, fake_embeddings)
    reads = []
    real = store._read_articles
    monkeypatch.setattr(store, "_read_articles", lambda: reads.append(1) or real())
    store.ingest([ferry(STORY)], progress=False)
    first = store.articles()
    first[0]["title"] = "changed by a caller"
    assert store.articles()[0]["title"] == "Electric ferry"
    assert len(reads) == 1
    store.ingest([ferry(UPDATE)], progress=False)
    assert store.articles()[0]["chunks"] == 1 and len(reads) == 2
    assert store.ingest([ferry(UPDATE)], progress=False).unchanged  # nothing written
    store.articles()
    assert len(reads) == 2


def test_a_record_from_a_lagging_clock_is_still_read(tmp_path, chroma_server, fake_embeddings):
    writer, _ = opened(tmp_path, "writer", chroma_server, fake_embeddings)
    reader, retriever = opened(tmp_path, "reader", chroma_server, fake_embeddings)
    writer.ingest([ferry(STORY)], progress=False)
    reader.refresh()
    # A second writer whose clock is two minutes behind: its record sorts before the one read.
    late, _ = opened(tmp_path, "late", chroma_server, fake_embeddings)
    real = changes._now_ms
    try:
        changes._now_ms = lambda: real() - 120_000
        late.ingest([Article(title="Tide tables", text="Spring tides peak on Thursday. " * 3)])
    finally:
        changes._now_ms = real
    reader.refresh()
    assert retriever.store.keyword.search("tides Thursday", 5)


def test_a_write_without_a_record_is_repaired_by_the_periodic_resync(
    tmp_path, chroma_server, fake_embeddings, monkeypatch
):
    writer, _ = opened(tmp_path, "writer", chroma_server, fake_embeddings)
    reader, retriever = opened(
        tmp_path, "reader", chroma_server, fake_embeddings, keyword_resync=0.5
    )
    # A writer that died between its Chroma write and its record.
    monkeypatch.setattr(writer.changes, "record", lambda *a, **k: None)
    writer.ingest([ferry(STORY)], progress=False)
    reader.refresh()
    assert retriever.store.keyword.search("Quillwort", 5) == []
    monkeypatch.setattr(changes.time, "monotonic", lambda: 10**9)  # resync_every has passed
    reader.refresh()
    assert retriever.store.keyword.search("Quillwort", 5)


def test_a_second_process_on_one_folder_keeps_a_keyword_index_of_its_own(
    tmp_path, chroma_server, fake_embeddings
):
    held, _ = opened(tmp_path, "same", chroma_server, fake_embeddings)
    held.ingest([ferry(STORY)], progress=False)
    settings = server_settings(tmp_path, "same", chroma_server.port)
    # Within one process the lock is shared, so a second process is what is refused.
    code = (
        "from qa.settings import get_settings; from qa.retrieve import make_retriever;"
        "from vectorstore.store import NewsStore; from tests.helpers import FakeEmbeddings;"
        f"s = get_settings({{'store': {{'path': {str(settings.store.path)!r}, "
        f"'chroma_host': '127.0.0.1', 'chroma_port': {chroma_server.port}}}}});"
        "r = make_retriever(NewsStore(s.store, FakeEmbeddings()), s.retrieval);"
        "print(r.store.keyword.path); print(len(r.store.keyword.search('Quillwort', 5)))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    own, found = run.stdout.split()
    assert "is in use by another newsqa process; this one keeps its own in" in run.stderr
    assert Path(own).parent != settings.store.path and found == "1"
    assert not Path(own).exists()  # removed at exit
    held.close()
