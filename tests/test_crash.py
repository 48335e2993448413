"""kill -9 during ingestion and model assembly, then the torn writes a kill can leave behind.

The first two tests are short runs of scripts/stress_crash.py (real subprocesses, SIGKILL at
seeded random points, the same verification); the rest rebuild each crash window by hand.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from crash_driver import index_words, open_qa

from qa.models import _remove_dead_parts
from qa.retrieve import make_retriever
from vectorstore.config import StoreSettings
from vectorstore.keyword import KeywordIndex, tokenize
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
class _Chunk:
    def __init__(self, cid: str, text: str) -> None:
        self.id, self.text = cid, text
        self.metadata = {"article_id": cid.split(":")[0], "title": "", "source": "CNN"}


def test_log_line_cut_before_its_newline_is_dropped_not_glued_to_the_next(tmp_path):
    path = tmp_path / "kw"
    KeywordIndex(path).upsert([_Chunk("a:0", "harbor ferry"), _Chunk("b:0", "river bridge")])
    with (path / "wal-0.jsonl").open("a") as f:
        f.write('{"op": "delete", "ids": ["a:0"]}')  # whole JSON, killed before the newline
    index = KeywordIndex(path)
    assert index.ids() == {"a:0", "b:0"}
    index.upsert([_Chunk("c:0", "tram strike")])
    assert KeywordIndex(path).ids() == {"a:0", "b:0", "c:0"}


def test_log_write_that_fails_half_way_is_undone(tmp_path, monkeypatch):
    path = tmp_path / "kw"
    index = KeywordIndex(path)
    index.upsert([_Chunk("a:0", "harbor ferry")])
    size = (path / "wal-0.jsonl").stat().st_size
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError):
        index.upsert([_Chunk("b:0", "river bridge")])
    monkeypatch.undo()
    assert (path / "wal-0.jsonl").stat().st_size == size and index.ids() == {"a:0"}
    index.upsert([_Chunk("c:0", "tram strike")])
    assert KeywordIndex(path).ids() == {"a:0", "c:0"}


def test_compaction_that_runs_out_of_space_keeps_the_index_working(tmp_path, monkeypatch):
    path = tmp_path / "kw"
    index = KeywordIndex(path, compact_min=2)
    real_save, saved = np.save, []

    def save_then_full(file, array):
        if len(saved) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        saved.append(file)
        real_save(file, array)

    monkeypatch.setattr(np, "save", save_then_full)
    with pytest.warns(UserWarning, match="compaction .* failed"):
        index.upsert([_Chunk(f"a:{n}", f"harbor ferry {n}") for n in range(4)])
    monkeypatch.undo()
    assert index.generation == 0 and index.ids() == {f"a:{n}" for n in range(4)}
    assert sorted(p.name for p in path.iterdir()) == ["wal-0.jsonl"]  # no half generation
    assert [i for i, _ in index.search("ferry 3", 1)] == ["a:3"]
    index.compact()
    assert KeywordIndex(path).ids() == {f"a:{n}" for n in range(4)}


class _Retrieval:
    mode = "hybrid"


def test_unreadable_index_is_rebuilt_from_the_collection(tmp_path, fake_embeddings):
    settings = StoreSettings(path=tmp_path / "store")
    store = NewsStore(settings, fake_embeddings)
    index = make_retriever(store, _Retrieval()).index
    store.ingest(
        [
            Article(title=f"Story {n}", text=f"The mayor of Town{n} spoke.", id=f"s{n}")
            for n in range(3)
        ],
        progress=False,
    )
    index.compact()
    (tmp_path / "store" / "keyword" / f"main-{index.generation}" / "docs.json").write_text("{")
    with pytest.warns(UserWarning, match="unreadable"):
        reopened = make_retriever(store, _Retrieval()).index
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
    index = qa.retriever.index

    def die(chunks):
        raise Killed

    index.upsert = die  # the process dies right after Chroma's write
    with pytest.raises(Killed):
        qa.store.ingest([new], progress=False)
    rerun = open_qa(store_path, fake_embeddings)  # opens (and syncs) as the product does
    assert rerun.store.ingest([new], progress=False).unchanged == ["f1"]
    assert index_words(rerun.retriever.index)["f1:0"] == Counter(
        tokenize("Ferry report\nThe river tram strike ended today.")
    )
    assert [i for i, _ in rerun.retriever.index.search("tram strike", 1)] == ["f1:0"]
    assert rerun.retriever.index.search("harbor", 1) == []


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
