"""The BM25 keyword index: incremental updates, deletes, persistence, crash repair, filters."""

from __future__ import annotations

import pytest

from vectorstore.config import StoreSettings
from vectorstore.keyword import KeywordIndex, tokenize
from vectorstore.store import NewsStore
from vectorstore.types import Article, Chunk, Filters, date_to_timestamp


def chunk(
    cid: str, text: str, source: str = "CNN", published: str = "2024-05-01", title: str = ""
) -> Chunk:
    meta = {
        "article_id": cid.split(":")[0],
        "source": source,
        "published": published,
        "published_ts": date_to_timestamp(published),
        "title": title,
    }
    return Chunk(id=cid, text=text, embed_text=text, metadata=meta)


CHUNKS = [
    chunk("a:0", "Tesla agreed with Baidu on a mapping licence for China's roads."),
    chunk(
        "b:0",
        "The Swiss National Bank cut its interest rate by a quarter point.",
        "USA Today",
        "2024-03-21",
    ),
    chunk(
        "c:0", "Sudan's prime minister resigned after weeks of protests.", "The Week", "2022-01-02"
    ),
    chunk("d:0", "Gulls win the coastal league final in extra time.", title="Tesla fans cheer"),
]


def ids(found) -> list[str]:
    return [i for i, _ in found]


@pytest.fixture
def index(tmp_path) -> KeywordIndex:
    ix = KeywordIndex(tmp_path / "kw", compact_min=3, compact_ratio=0.5)
    ix.upsert(CHUNKS)
    return ix


def test_tokenize_folds_case_accents_and_plurals():
    assert tokenize("Banks' RATES in Zürich, 2024!") == ["bank", "rate", "zurich", "2024"]


def test_search_ranks_rare_names_first_and_title_counts(index):
    assert ids(index.search("What did Baidu agree?", 3))[0] == "a:0"
    assert set(ids(index.search("Tesla", 5))) == {"a:0", "d:0"}  # d:0 only in its title
    assert index.search("nothing matches zzzz", 5) == []


def test_incremental_upsert_update_and_delete(index):
    index.upsert([chunk("e:0", "A snailfish was found in the Halvard Trench.")])
    assert ids(index.search("snailfish", 3)) == ["e:0"]
    index.upsert([chunk("a:0", "Tesla recalled cars in Norway.")])  # same id, new text
    assert "a:0" not in ids(index.search("Baidu", 3))
    assert ids(index.search("Norway", 3)) == ["a:0"]
    index.delete(["e:0", "never-there:0"])
    assert index.search("snailfish", 3) == []
    assert len(index) == 4


def test_persists_across_reopen_with_and_without_compaction(tmp_path):
    path = tmp_path / "kw"
    ix = KeywordIndex(path, compact_min=100)  # stays in the write-ahead log
    ix.upsert(CHUNKS)
    ix.delete(["c:0"])
    assert ix.generation == 0
    again = KeywordIndex(path)
    assert again.ids() == {"a:0", "b:0", "d:0"}
    assert ids(again.search("Baidu", 2)) == ["a:0"]
    again.compact()
    assert again.generation == 1
    reopened = KeywordIndex(path)
    assert reopened.ids() == {"a:0", "b:0", "d:0"}
    assert reopened.search("Baidu", 2) == again.search("Baidu", 2)
    assert sorted(p.name for p in path.iterdir()) == ["main-1", "manifest.json"]


def test_compaction_keeps_scores_of_a_fresh_build(tmp_path):
    grown = KeywordIndex(tmp_path / "grown", compact_min=1, compact_ratio=0.1)
    for c in CHUNKS:  # one at a time: several compactions
        grown.upsert([c])
    fresh = KeywordIndex(tmp_path / "fresh", compact_min=100)
    fresh.upsert(CHUNKS)
    fresh.compact()
    assert grown.generation > 1
    queries = ("Tesla Baidu", "bank rate", "prime minister", "gulls Tesla")
    for q in queries:  # the tail is scored with the whole index's statistics: same ranking
        assert ids(grown.search(q, 4)) == ids(fresh.search(q, 4))
    grown.compact()
    for q in queries:
        got, want = grown.search(q, 4), fresh.search(q, 4)
        assert ids(got) == ids(want)
        assert [s for _, s in got] == pytest.approx([s for _, s in want])


def test_torn_log_line_is_cut_and_later_writes_survive(tmp_path):
    path = tmp_path / "kw"
    KeywordIndex(path, compact_min=100).upsert(CHUNKS[:2])
    with (path / "wal-0.jsonl").open("a") as f:
        f.write('{"op": "upsert", "id": "x:0", "tok')  # a crash mid-write
    ix = KeywordIndex(path, compact_min=100)
    assert ix.ids() == {"a:0", "b:0"}
    ix.upsert(CHUNKS[2:3])
    assert KeywordIndex(path).ids() == {"a:0", "b:0", "c:0"}


def test_crash_during_compaction_leaves_a_readable_index(tmp_path):
    path = tmp_path / "kw"
    ix = KeywordIndex(path, compact_min=100)
    ix.upsert(CHUNKS)
    ix.compact()
    (path / ".main-2.tmp").mkdir()  # a half-written next generation
    (path / "main-2").mkdir()  # renamed, but the manifest was never switched
    again = KeywordIndex(path)
    assert again.generation == 1 and len(again) == 4
    assert sorted(p.name for p in path.iterdir()) == ["main-1", "manifest.json"]


def test_filters_match_filters_accepts(index):
    index.compact()
    index.upsert([chunk("e:0", "Tesla opened a factory.", "USA Today", "2024-06-01")])  # tail
    for filters in (
        Filters(sources=["CNN"]),
        Filters(date_from="2024-04-01"),
        Filters(sources=["USA Today"], date_to="2024-05-01"),
        Filters(date_from="2022-01-01", date_to="2022-12-31"),
    ):
        found = ids(index.search("Tesla bank minister gulls", 10, filters))
        expected = {
            c.id
            for c in [*CHUNKS, chunk("e:0", "", "USA Today", "2024-06-01")]
            if filters.accepts(c.metadata)
        }
        assert set(found) <= expected
        assert set(found) == expected & set(ids(index.search("Tesla bank minister gulls", 10)))


def articles() -> list[Article]:
    return [
        Article(
            title=f"Story {n}",
            text=f"Report number {n}. The mayor of Town{n} spoke.",
            source="CNN",
            published=f"2024-05-{n + 1:02d}",
            id=f"art{n}",
        )
        for n in range(6)
    ]


def test_sync_repairs_from_chroma_after_a_simulated_crash(tmp_path, fake_embeddings):
    settings = StoreSettings(path=tmp_path / "store")
    index = KeywordIndex.for_store(settings)
    store = NewsStore(settings, fake_embeddings, listeners=[index])
    store.ingest(articles()[:3], progress=False)
    assert index.ids() == {"art0:0", "art1:0", "art2:0"}
    # The process died after Chroma's write but before the index heard of it:
    store.listeners.clear()
    store.ingest(articles()[3:], progress=False)
    store.collection.delete(ids=["art0:0"])
    reopened = KeywordIndex.for_store(settings)
    assert "art4:0" not in reopened.ids()
    assert reopened.sync(store) == {"added": 3, "removed": 1, "refreshed": 0}
    assert reopened.ids() == {f"art{n}:0" for n in range(1, 6)}
    assert ids(reopened.search("Town4 mayor", 1)) == ["art4:0"]
    assert reopened.sync(store) == {"added": 0, "removed": 0, "refreshed": 0}


def test_sync_reindexes_a_chunk_whose_text_changed_under_the_same_id(tmp_path, fake_embeddings):
    # Another process rewrote art1 (same chunk id, new text) and this index missed the write:
    # the ids agree, so only the fingerprints show the index holds the old words.
    settings = StoreSettings(path=tmp_path / "store")
    index = KeywordIndex.for_store(settings)
    store = NewsStore(settings, fake_embeddings, listeners=[index])
    store.ingest(articles()[:3], progress=False)
    store.listeners.clear()
    rewritten = Article(title="Ferry strike ends", text="Harbor ferries sail again.", id="art1")
    assert store.ingest([rewritten], progress=False).updated == ["art1"]
    assert index.ids() == set(store.collection.get()["ids"])  # the ids alone look in step
    assert ids(index.search("ferries harbor", 1)) != ["art1:0"]
    assert index.sync(store) == {"added": 0, "removed": 0, "refreshed": 1}
    assert ids(index.search("ferries harbor", 1)) == ["art1:0"]
    assert ids(index.search("Town1 mayor", 3)).count("art1:0") == 0
    assert KeywordIndex.for_store(settings).sync(store)["refreshed"] == 0  # and it persisted


def test_store_deletes_reach_the_index(tmp_path, fake_embeddings):
    settings = StoreSettings(path=tmp_path / "store", chunk_size=200, chunk_overlap=0)
    index = KeywordIndex.for_store(settings)
    store = NewsStore(settings, fake_embeddings, listeners=[index])
    long = Article(
        title="Long", text=" ".join(f"Sentence {n} about zebras." for n in range(40)), id="long"
    )
    store.ingest([long], progress=False)
    before = index.ids()
    assert len(before) > 1
    short = Article(title="Long", text="Only one sentence about zebras now.", id="long")
    store.ingest([short], progress=False)
    assert index.ids() == {"long:0"} == set(store.collection.get()["ids"])
