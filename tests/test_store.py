import subprocess
import sys
from pathlib import Path

import pytest

from vectorstore.errors import StoreError
from vectorstore.store import NewsStore
from vectorstore.types import Article, Failure, Filters


def _articles():
    stories = [
        ("Gulls win the Coastal League final", "The Gulls beat the Pilots 78-71. Fans filled "
         "the arena on Saturday. ", "Harbor Ledger", "2024-05-20", "https://ledger.example/gulls"),
        ("Storm sets rainfall record", "The storm dropped 142 mm of rain. Streets flooded near "
         "the river. ", "Metro Wire", "2024-09-14", "https://metro.example/storm"),
    ]  # fmt: skip
    return [
        Article(title=title, text=text * 20, source=outlet, published=day, url=url)
        for title, text, outlet, day, url in stories
    ]


def _store(settings, fake_embeddings):
    return NewsStore(settings.store, fake_embeddings)


def test_reingest_adds_nothing(settings, fake_embeddings):
    store = _store(settings, fake_embeddings)
    first = store.ingest(_articles(), progress=False)
    assert first.counts() == {"added": 2, "updated": 0, "unchanged": 0, "failed": 0}
    count = store.count()
    again = store.ingest(_articles(), progress=False)
    assert again.counts() == {"added": 0, "updated": 0, "unchanged": 2, "failed": 0}
    assert store.count() == count and again.chunks_written == 0


def test_changed_article_replaces_its_chunks(settings, fake_embeddings):
    store = _store(settings, fake_embeddings)
    store.ingest(_articles(), progress=False)
    shorter = _articles()[0]
    shorter.text = "The Gulls beat the Pilots 78-71 in a corrected report."
    report = store.ingest([shorter], progress=False)
    assert report.updated == [shorter.id]
    chunks = store.collection.get(where={"article_id": shorter.id})
    assert chunks["ids"] == [f"{shorter.id}:0"]
    assert "corrected report" in chunks["documents"][0]


def test_partial_article_from_a_crash_is_completed(settings, fake_embeddings):
    store = _store(settings, fake_embeddings)
    store.ingest(_articles(), progress=False)
    article = _articles()[1]
    ids = store.collection.get(where={"article_id": article.id})["ids"]
    store.collection.delete(ids=ids[1:])  # as if the process died after the first chunk
    report = store.ingest(_articles(), progress=False)
    assert report.updated == [article.id] and report.unchanged == [_articles()[0].id]
    assert sorted(store.collection.get(where={"article_id": article.id})["ids"]) == sorted(ids)


class _CountingCollection:
    """The store's Chroma collection, counting the `get` calls (round trips to a server)."""

    def __init__(self, collection):
        self.inner, self.gets = collection, 0

    def get(self, *args, **kwargs):
        self.gets += 1
        return self.inner.get(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _many(n: int, words: str = "The council met and voted on the budget.") -> list[Article]:
    return [
        Article(
            title=f"Budget vote {i}", text=f"{words} Item {i}. " * 30, url=f"https://x.example/{i}"
        )
        for i in range(n)
    ]


def test_ingestion_looks_up_stored_chunks_in_batches(settings, fake_embeddings, monkeypatch):
    from vectorstore import write

    store = _store(settings, fake_embeddings)
    counting = _CountingCollection(store.collection)
    monkeypatch.setattr(store, "collection", counting)
    batch = write.LOOKUP_BATCH
    first = store.ingest(_many(2 * batch + 6), progress=False)
    assert first.counts()["added"] == 2 * batch + 6
    # One `$in` lookup per 32 articles, not one per article, one look at the stored vectors'
    # dimension and one listing of the stored story signatures (each once per store).
    assert counting.gets == 3 + 1 + 1
    counting.gets = 0
    again = store.ingest(_many(2 * batch + 6), progress=False)
    assert again.counts()["unchanged"] == 2 * batch + 6 and again.chunks_written == 0
    assert counting.gets == 3
    # One article changed among unchanged ones: replaced, the others untouched.
    articles = _many(batch)
    articles[5].text = "The council delayed the vote. " * 2
    report = store.ingest(articles, progress=False)
    assert report.updated == [articles[5].id] and len(report.unchanged) == batch - 1
    assert counting.inner.get(where={"article_id": articles[5].id})["ids"] == [
        f"{articles[5].id}:0"
    ]


def test_one_id_twice_in_a_run_leaves_no_chunk_of_the_first_copy(settings, fake_embeddings):
    store = _store(settings, fake_embeddings)
    long, short = _many(1)[0], _many(1, "A short correction.")[0]
    short.text = "A short correction of the budget story."
    assert long.id == short.id
    report = store.ingest([long, *_many(3)[1:], short], progress=False)
    assert not report.failed
    assert store.collection.get(where={"article_id": long.id})["ids"] == [f"{long.id}:0"]
    assert "short correction" in store.collection.get(where={"article_id": long.id})["documents"][0]


def test_bad_items_are_reported_and_the_rest_stored(settings, fake_embeddings):
    store = _store(settings, fake_embeddings)
    empty = Article(title="Nothing here", text="   ", origin="empty.txt")
    huge = Article(title="Huge", text="x. " * 1_000_000, origin="huge.txt")
    report = store.ingest(
        [Failure("bad.bin", "binary file"), empty, huge, *_articles()], progress=False
    )
    assert report.counts()["added"] == 2
    reasons = {f.item: f.reason for f in report.failed}
    assert reasons["bad.bin"] == "binary file"
    assert reasons["empty.txt"] == "the article has no text"
    assert "over the limit" in reasons["huge.txt"]


def test_search_honours_outlet_and_date_filters(settings, fake_embeddings):
    store = _store(settings, fake_embeddings)
    store.ingest(_articles(), progress=False)
    hits = store.search("rain storm flooded", k=3)
    assert hits[0][0].metadata["title"] == "Storm sets rainfall record"
    only_ledger = store.search(
        "rain storm flooded", k=3, filters=Filters(sources=["Harbor Ledger"])
    )
    assert {d.metadata["source"] for d, _ in only_ledger} == {"Harbor Ledger"}
    spring = store.search(
        "rain", k=5, filters=Filters(date_from="2024-05-01", date_to="2024-06-30")
    )
    assert {d.metadata["published"] for d, _ in spring} == {"2024-05-20"}
    rows = store.articles()
    assert [r["published"] for r in rows] == ["2024-09-14", "2024-05-20"]


# --- one process per embedded store -------------------------------------------------------
_HOLDER = """
import sys, time
sys.path.insert(0, {tests!r})
from helpers import FakeEmbeddings
from vectorstore.config import StoreSettings
from vectorstore.store import NewsStore
store = NewsStore(StoreSettings(path={path!r}), FakeEmbeddings())
print("open", flush=True)
time.sleep({hold})
"""


def _hold(path, hold: float = 60.0) -> subprocess.Popen:
    """A second process that opens the store at `path`, says "open", then keeps it `hold` s."""
    code = _HOLDER.format(tests=str(Path(__file__).parent), path=str(path), hold=hold)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "open"
    return proc


def test_a_second_process_on_an_embedded_store_fails_at_once_naming_the_holder(
    settings, fake_embeddings
):
    holder = _hold(settings.store.path)
    try:
        with pytest.raises(StoreError, match=rf"another newsqa process \(pid {holder.pid}\)"):
            _store(settings, fake_embeddings)
    finally:
        holder.kill()
        holder.wait()
    # The kernel dropped the lock with the killed process: the store opens, nothing to clean.
    store = _store(settings, fake_embeddings)
    assert store.ingest(_articles(), progress=False).counts()["added"] == 2


def test_lock_wait_opens_the_store_once_the_other_process_lets_go(settings, fake_embeddings):
    holder = _hold(settings.store.path, hold=1.0)
    waiting = settings.store.model_copy(update={"lock_wait": 60.0})
    store = NewsStore(waiting, fake_embeddings)  # would raise at once without lock_wait
    assert holder.wait(timeout=10) == 0  # it ran to its end: the wait was for its lock
    assert store.count() == 0


def test_stores_on_one_folder_in_one_process_share_the_lock(settings, fake_embeddings):
    first = _store(settings, fake_embeddings)
    second = _store(settings, fake_embeddings)
    first.ingest(_articles(), progress=False)
    assert second.count() == first.count() > 0
    first.lock.release()  # one user lets go: the folder stays locked for the other
    code = _HOLDER.format(tests=str(Path(__file__).parent), path=str(settings.store.path), hold=0)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0 and "another newsqa process" in done.stderr
