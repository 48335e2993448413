from vectorstore.store import NewsStore
from vectorstore.types import Article, Failure, Filters


def _articles():
    return [
        Article(
            title="Gulls win the Coastal League final",
            text="The Gulls beat the Pilots 78-71. Fans filled the arena on Saturday. " * 20,
            source="Harbor Ledger",
            published="2024-05-20",
            url="https://ledger.example/gulls",
        ),
        Article(
            title="Storm sets rainfall record",
            text="The storm dropped 142 mm of rain. Streets flooded near the river. " * 20,
            source="Metro Wire",
            published="2024-09-14",
            url="https://metro.example/storm",
        ),
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
