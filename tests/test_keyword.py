"""The BM25 keyword index: incremental updates, deletes, persistence, crash repair, filters."""

from __future__ import annotations

import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from vectorstore.config import StoreSettings
from vectorstore.errors import StoreError
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
    ix = KeywordIndex(tmp_path / "kw")
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


def test_persists_across_reopen(tmp_path):
    path = tmp_path / "kw"
    ix = KeywordIndex(path)
    ix.upsert(CHUNKS)
    ix.delete(["c:0"])
    again = KeywordIndex(path)
    assert again.ids() == {"a:0", "b:0", "d:0"}
    assert ids(again.search("Baidu", 2)) == ["a:0"]
    assert again.search("Tesla bank", 3) == ix.search("Tesla bank", 3)


def test_scores_do_not_depend_on_how_the_chunks_arrived(tmp_path):
    grown = KeywordIndex(tmp_path / "grown")
    for c in CHUNKS:  # one commit (one segment) per chunk
        grown.upsert([c])
    fresh = KeywordIndex(tmp_path / "fresh")
    fresh.upsert(CHUNKS)
    for q in ("Tesla Baidu", "bank rate", "prime minister", "gulls Tesla"):
        got, want = grown.search(q, 4), fresh.search(q, 4)
        assert ids(got) == ids(want)
        assert [s for _, s in got] == pytest.approx([s for _, s in want])


def test_idf_weighs_rare_words_most_and_stop_words_nothing(index):
    tesla, baidu, the, unseen = index.idf(["Tesla", "Baidu", "the", "zzzz"])
    assert the == 0.0
    assert 0 < tesla < baidu < unseen  # Tesla is in two chunks, Baidu in one, zzzz in none


def _failing(good: list[Chunk]):
    yield from good
    raise RuntimeError("the chunk source failed")


def test_a_batch_that_fails_part_way_leaves_nothing_of_it(index, tmp_path):
    # Uncommitted writes are never visible: not to this index, not after reopening it.
    with pytest.raises(RuntimeError):
        index.upsert(_failing([chunk("e:0", "A snailfish was found."), chunk("a:0", "Gone.")]))
    for ix in (index, KeywordIndex(tmp_path / "kw")):
        assert ix.ids() == {c.id for c in CHUNKS}
        assert ix.search("snailfish", 3) == []
        assert ids(ix.search("Baidu", 3)) == ["a:0"]
    index.upsert([chunk("e:0", "A snailfish was found.")])
    assert ids(index.search("snailfish", 3)) == ["e:0"]


_KILLED_MID_BATCH = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from test_keyword import CHUNKS, chunk
from vectorstore.keyword import KeywordIndex

index = KeywordIndex({path!r})
index.upsert(CHUNKS)

def chunks():  # enough that the writer flushes segment files before the kill
    for n in range(3000):
        yield chunk(f"x{{n}}:0", f"Snailfish report {{n}} from the Halvard Trench.")
    os.kill(os.getpid(), signal.SIGKILL)

index.upsert(chunks())
"""


def test_kill_9_during_a_batch_leaves_the_last_commit_readable(tmp_path):
    path = tmp_path / "kw"
    script = _KILLED_MID_BATCH.format(tests=str(Path(__file__).parent), path=str(path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # opens as it is, not rebuilt as unreadable
        reopened = KeywordIndex(path)
    assert reopened.ids() == {c.id for c in CHUNKS}
    assert reopened.search("snailfish", 3) == []
    reopened.upsert([chunk("e:0", "A snailfish was found.")])
    assert ids(KeywordIndex(path).search("snailfish", 3)) == ["e:0"]


_HOLDS_A_BATCH_OPEN = """
import sys
sys.path.insert(0, {tests!r})
from test_keyword import chunk
from vectorstore.keyword import KeywordIndex

def chunks():
    yield chunk("other:0", "Written by the other process.")
    print("writing", flush=True)
    sys.stdin.readline()

KeywordIndex({path!r}).upsert(chunks())
"""


def test_a_second_writer_process_gets_a_clear_error(index, tmp_path):
    script = _HOLDS_A_BATCH_OPEN.format(tests=str(Path(__file__).parent), path=str(index.path))
    other = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout.readline().strip() == "writing"
        with pytest.raises(StoreError, match="being written by another process"):
            index.upsert([chunk("e:0", "A snailfish was found.")])
    finally:
        other.communicate("done\n", timeout=60)
    assert other.returncode == 0
    index.upsert([chunk("e:0", "A snailfish was found.")])  # the other one has finished
    assert KeywordIndex(index.path).ids() == {c.id for c in CHUNKS} | {"other:0", "e:0"}


def test_an_index_of_another_format_is_rebuilt_from_the_collection(tmp_path, fake_embeddings):
    settings = StoreSettings(path=tmp_path / "store")
    store = NewsStore(settings, fake_embeddings)
    store.ingest(articles()[:2], progress=False)
    old = tmp_path / "store" / "keyword"  # the bm25s index of earlier versions
    old.mkdir()
    (old / "manifest.json").write_text('{"generation": 1}')
    (old / "wal-1.jsonl").write_text('{"op": "delete", "ids": ["x:0"]}\n')
    with pytest.warns(UserWarning, match="unreadable"):
        index = KeywordIndex.for_store(settings)
    assert index.sync(store)["added"] == 2
    assert index.ids() == {"art0:0", "art1:0"}
    assert not (old / "manifest.json").exists()


def test_filters_match_filters_accepts(index):
    index.upsert([chunk("e:0", "Tesla opened a factory.", "USA Today", "2024-06-01")])
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
