"""kill -9 during ingestion and model assembly, then the torn writes a kill can leave behind.

The first two tests are short runs of scripts/stress_crash.py (real subprocesses, SIGKILL at
seeded random points, the same verification); the rest rebuild each crash window by hand.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from crash_driver import make_corpus, open_qa

from qa.models import _remove_dead_parts
from qa.retrieve import make_retriever
from qa.settings import RetrievalSettings
from vectorstore.config import StoreSettings
from vectorstore.keyword import KeywordIndex
from vectorstore.store import NewsStore
from vectorstore.types import Article

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("stress_crash", ROOT / "scripts" / "stress_crash.py")
stress = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stress)


def test_ingestion_killed_at_random_points_then_rerun_is_complete(tmp_path):
    # Seed 101 draws 5 kills, none during start-up. They are placed by embedding batches, not
    # seconds, so where they land does not move with the machine's load (4 land mid-write here,
    # with or without two busy loops beside the run).
    summary = stress.ingest_runs(tmp_path, runs=5, seed=101, articles=20, sleep=0.03)
    assert summary["failures"] == [], summary
    assert summary["kills_landed_during_write"] >= 3, summary["kills_landed"]


def test_model_assembly_killed_at_random_points_then_rerun_is_whole(tmp_path):
    summary = stress.assembly_runs(tmp_path, runs=3, seed=3)
    assert summary["failures"] == [], summary
    assert summary["kills_landed_during_write"] >= 2, summary["kills_landed"]


# --- the crash windows, one at a time ----------------------------------------------------------
def _kill_during_index_write(store: Path, sources: list[str], writes: int) -> None:
    """Run crash_driver's ingest (the product path) and kill -9 it in its `writes`-th keyword
    index write, after Chroma has taken that batch."""
    progress = store.parent / "progress.txt"
    cmd = [sys.executable, str(ROOT / "tests" / "crash_driver.py"), "ingest", "--store"]
    cmd += [str(store), "--index-sleep", "2", "--progress", str(progress), *sources]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            events = progress.read_text().split() if progress.exists() else []
            if events.count("index") >= writes:
                break
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    assert "done" not in progress.read_text().split(), "the ingest finished before the kill"


def test_index_killed_mid_ingest_opens_and_sync_makes_it_the_collection(tmp_path, fake_embeddings):
    store_path = tmp_path / "store"
    corpus = make_corpus(tmp_path / "corpus.jsonl", 0, articles=60)
    _kill_during_index_write(store_path, [str(corpus)], writes=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # opens as the kill left it, not rebuilt as unreadable
        index = KeywordIndex.for_store(StoreSettings(path=store_path))
    store = NewsStore(StoreSettings(path=store_path), fake_embeddings)
    stored = store.collection.get(include=["metadatas"])
    assert stored["ids"], "nothing was stored before the kill"
    assert index.sync(store)["added"] > 0  # the batch Chroma took before the kill
    assert index.fingerprints() == {
        i: m["fingerprint"] for i, m in zip(stored["ids"], stored["metadatas"], strict=True)
    }
    title = stored["metadatas"][0]["title"]
    assert [i.rsplit(":", 1)[0] for i, _ in index.search(title, 1)] == [
        stored["metadatas"][0]["article_id"]
    ]


def test_unreadable_index_is_rebuilt_from_the_collection(tmp_path, fake_embeddings):
    settings = StoreSettings(path=tmp_path / "store")
    store = NewsStore(settings, fake_embeddings)
    index = make_retriever(store, RetrievalSettings(mode="hybrid")).store.keyword
    store.ingest(
        [
            Article(title=f"Story {n}", text=f"The mayor of Town{n} spoke.", id=f"s{n}")
            for n in range(3)
        ],
        progress=False,
    )
    assert len(index) == 3
    (tmp_path / "store" / "keyword" / "meta.json").write_text("{")  # a damaged disk
    with pytest.warns(UserWarning, match="unreadable"):
        again = NewsStore(settings, fake_embeddings)  # as the next run opens it
        reopened = make_retriever(again, RetrievalSettings(mode="hybrid")).store.keyword
    assert reopened.ids() == {"s0:0", "s1:0", "s2:0"}


def test_kill_between_chroma_and_index_never_leaves_old_words(tmp_path, fake_embeddings):
    """An article rewritten under the same chunk ids, killed after Chroma took the new text."""

    class Killed(BaseException):
        pass

    store_path = tmp_path / "store"
    old = Article(title="Ferry report", text="The harbor ferry was late again.", id="f1")
    new = Article(title="Ferry report", text="The river tram strike ended today.", id="f1")
    open_qa(store_path, fake_embeddings).store.ingest([old], progress=False)
    qa = open_qa(store_path, fake_embeddings)
    index = qa.retriever.store.keyword

    def die(chunks):
        raise Killed

    index.upsert = die  # the process dies right after Chroma's write
    with pytest.raises(Killed):
        qa.store.ingest([new], progress=False)
    rerun = open_qa(store_path, fake_embeddings)  # opens (and syncs) as the product does
    assert rerun.store.ingest([new], progress=False).unchanged == ["f1"]
    stored = rerun.store.collection.get(ids=["f1:0"], include=["metadatas"])["metadatas"][0]
    assert rerun.retriever.store.keyword.fingerprints()["f1:0"] == stored["fingerprint"]
    assert [i for i, _ in rerun.retriever.store.keyword.search("tram strike", 1)] == ["f1:0"]
    assert rerun.retriever.store.keyword.search("harbor", 1) == []


def test_part_files_of_dead_assemblies_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "qwen2.5-0.5b.gguf"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for pid in (dead, live.pid, os.getpid()):
            (tmp_path / f"{target.name}.{pid}.part").write_bytes(b"GGUF half")
        _remove_dead_parts(target)
        left = sorted(p.name for p in tmp_path.iterdir())
    finally:
        live.kill()
        live.wait()
    assert left == sorted(f"{target.name}.{pid}.part" for pid in (live.pid, os.getpid()))
