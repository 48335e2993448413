"""A full disk during ingestion: clear failures, a readable store, and a clean finish once freed.

The store lives on a small tmpfs (we are root in CI); a filler file leaves it a few MB above the
store's safety margin, so ingestion runs out of room part-way.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from crash_driver import SAMPLES, make_corpus, open_qa

from qa.errors import ModelError
from qa.models import local_model_path
from vectorstore.disk import free_bytes
from vectorstore.keyword import KeywordIndex
from vectorstore.store import NewsStore
from vectorstore.types import Chunk

ROOT = Path(__file__).resolve().parent.parent
MB = 2**20


@pytest.fixture
def tmpfs(tmp_path):
    """A freshly mounted tmpfs folder, unmounted afterwards (skipped where mount is refused)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()

    def mount(size_mb: int, remount: bool = False) -> Path:
        options = f"remount,size={size_mb}m" if remount else f"size={size_mb}m"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
        return mnt

    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(folder: Path, leave: int) -> Path:
    """A file that takes the disk's free space down to `leave` bytes."""
    filler = folder / "filler.bin"
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, free_bytes(folder) - leave)
    return filler


def test_full_disk_fails_clearly_keeps_the_store_readable_and_recovers(tmpfs, tmp_path):
    mnt = tmpfs(NewsStore.min_free_bytes // MB + 16)
    filler = _fill(mnt, NewsStore.min_free_bytes + 3 * MB // 2)
    store = mnt / "store"
    sources = [str(SAMPLES), str(make_corpus(tmp_path / "corpus.jsonl", 0, articles=150))]

    writer = open_qa(store)
    report = writer.ingest(sources, progress=False)  # must return, not raise or hang
    assert len(report.added) >= 5 and report.failed, report.summary()
    for failure in report.failed:
        assert "the disk is full (No space left on device)" in failure.reason
        assert str(store) in failure.reason and "free some space" in failure.reason

    # Readable afterwards, as the product opens it: what was stored is listed and searchable,
    # and the keyword index holds exactly the collection's chunks.
    qa = open_qa(store)
    listed = {row["id"] for row in qa.articles()}
    assert listed == set(report.added)
    stored = set(qa.store.collection.get(include=[])["ids"])
    assert qa.retriever.store.keyword.ids() == stored
    first = qa.store.get([sorted(stored)[0]])[0]
    top = qa.retriever.retrieve(first.metadata["title"], 3)
    assert top and top[0][0].metadata["article_id"] == first.metadata["article_id"]

    # The CLI says so in one line per item and exits non-zero, without a traceback.
    new = tmp_path / "new.jsonl"
    new.write_text(
        json.dumps(
            {
                "title": "Late report",
                "text": "A ferry was late. " * 40,
                "url": "https://late.example/1",
            }
        )
        + "\n"
    )
    writer.close(), qa.close()  # one process per embedded store: hand it to the CLI
    cli = subprocess.run(
        [sys.executable, "-m", "qa.cli", "ingest", "--store", str(store), str(new)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 3, cli.stderr[-2000:]
    assert "Traceback" not in cli.stderr + cli.stdout
    assert "No space left on device" in cli.stdout and "1 failed" in cli.stdout

    # Space freed (the filler deleted, the disk grown): the same ingestion completes, and the
    # store equals a clean ingest.
    filler.unlink()
    tmpfs(NewsStore.min_free_bytes // MB + 64, remount=True)
    opened = open_qa(store)
    again = opened.ingest(sources, progress=False)
    assert not again.failed, again.summary()
    reference = tmp_path / "reference"
    clean = open_qa(reference)
    clean.ingest(sources, progress=False)
    opened.close(), clean.close()
    # Checked from a new process: this one's Chroma has the store open.
    check = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "crash_driver.py"),
            "verify",
            str(store),
            str(reference),
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr[-2000:]
    problems = json.loads(check.stdout.splitlines()[-1])
    assert not any(problems.values()), problems


def test_model_assembly_on_a_full_disk_is_a_clear_error_and_leaves_nothing(tmpfs):
    cache = tmpfs(8)
    with pytest.raises(ModelError, match="no space left on the device") as err:
        local_model_path("qwen2.5-0.5b", cache / "models")
    assert "MB needed" in str(err.value)
    assert list((cache / "models").iterdir()) == []


def _chunks(prefix: str, n: int) -> list[Chunk]:
    return [
        Chunk(
            id=f"{prefix}{i}:0",
            text=f"Report {prefix}{i}: the harbor ferry word{i * 7919 % 100003} sailed late.",
            embed_text="",
            metadata={"title": f"Ferry {i}", "source": "CNN"},
        )
        for i in range(n)
    ]


def test_keyword_commit_on_a_full_disk_keeps_the_previous_commit(tmpfs):
    mnt = tmpfs(8)
    path = mnt / "kw"
    index = KeywordIndex(path)
    kept = _chunks("a", 50)
    index.upsert(kept)
    filler = _fill(mnt, 16 * 1024)
    with pytest.raises(OSError) as failed:
        index.upsert(_chunks("b", 500))
    assert failed.value.errno == errno.ENOSPC and str(path) in str(failed.value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # readable as it is, not rebuilt
        reopened = KeywordIndex(path)
    for ix in (index, reopened):
        assert ix.ids() == {c.id for c in kept}
        assert [i for i, _ in ix.search("Report a7", 1)] == ["a7:0"]
    filler.unlink()
    index.upsert(_chunks("b", 200))
    assert len(KeywordIndex(path)) == 250
