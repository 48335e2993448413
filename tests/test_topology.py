"""The scale-out topology end to end: one `chroma run` server, two `newsqa ui` app processes on
it, and `newsqa ingest` from a third process. Both apps answer from the new article, and each
one's keyword index took it in at its next search (docs/deploy.md). Real embedding model; the
extractive reader stands in for the chat model (answer quality is not what is tested)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

from helpers import free_port, running

from vectorstore.types import Article

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = {
    "title": "Harbourside names its electric ferry Quillwort",
    "text": (
        "The Harbourside ferry company said on Monday that its first electric boat will be "
        "called the Quillwort. The Quillwort will carry its first passengers across the estuary "
        "on 14 June, the company said, after sea trials in May. It seats 140 people and charges "
        "in twelve minutes at the new quay."
    ),
    "source": "Estuary Post",
    "published": "2026-11-30",
    "url": "https://estuary.example/quillwort",
}
QUESTION = "When will the Quillwort carry its first passengers?"


def env_for(tmp_path: Path, name: str, port: int) -> dict:
    return {
        **os.environ,
        "NEWSQA_STORE__PATH": str(tmp_path / name),
        "NEWSQA_STORE__CHROMA_HOST": "127.0.0.1",
        "NEWSQA_STORE__CHROMA_PORT": str(port),
        "NEWSQA_LLM__PROVIDER": "extractive",
        "NEWSQA_CACHE_DIR": str(tmp_path / "models"),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }


@contextmanager
def app(tmp_path: Path, name: str, chroma_port: int):
    """`newsqa ui` on a free loopback port, until the block ends; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "qa.cli", "ui", "--no-auth", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    env = env_for(tmp_path, name, chroma_port)
    with running(command, tmp_path / f"{name}.log", url, env=env, seconds=300):
        yield url


def keyword_ids(tmp_path: Path, name: str) -> set[str]:
    """Chunk ids the app's keyword index holds as last committed (read while the app runs)."""
    from vectorstore.keyword import KeywordIndex

    return KeywordIndex(tmp_path / name / "keyword").ids()


def ask(url: str) -> dict:
    from gradio_client import Client

    return Client(url, verbose=False).predict(QUESTION, "", "", api_name="/ask")


def test_two_apps_answer_from_an_article_a_third_process_ingested(tmp_path, chroma_server):
    with ExitStack() as stack:
        first = stack.enter_context(app(tmp_path, "app1", chroma_server.port))  # ingests samples
        second = stack.enter_context(app(tmp_path, "app2", chroma_server.port))
        for url in (first, second):  # the samples, before the new article
            assert ask(url)["refused"]

        feed = tmp_path / "new.jsonl"
        feed.write_text(json.dumps(ARTICLE) + "\n")
        ingest = subprocess.run(
            [sys.executable, "-m", "qa.cli", "ingest", str(feed)],
            cwd=ROOT,
            env=env_for(tmp_path, "ingester", chroma_server.port),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ingest.returncode == 0, ingest.stderr
        assert "1 added" in ingest.stdout + ingest.stderr
        chunks = {f"{Article(**ARTICLE).id}:0"}  # one chunk: the article is short
        for name in ("app1", "app2"):  # no search yet: neither app has it
            assert not chunks & keyword_ids(tmp_path, name)

        for name, url in (("app1", first), ("app2", second)):
            before = keyword_ids(tmp_path, name)
            answer = ask(url)
            assert not answer["refused"], answer
            assert "14 June" in answer["text"]
            cited = {c["title"] for c in answer["citations"]}
            assert cited == {ARTICLE["title"]}
            assert {s["chunk_id"] for s in answer["sources"]} >= chunks
            assert keyword_ids(tmp_path, name) - before == chunks, name
