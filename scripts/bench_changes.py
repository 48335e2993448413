"""What sharing one Chroma server costs a process: the change-log read before each keyword search,
taking in another process's article, and the article listing read vs kept.

Starts `chroma run` on 127.0.0.1 over a temporary folder, stores `--articles` synthetic articles
(hash embeddings: the embedding model is not what is measured) through a writer store, then times
in a reader store (its own keyword index, as a second app replica has):
  refresh, nothing new        the one change-log query every keyword search now starts with
  refresh, one new article    the writer ingests one article; the reader's next refresh
  articles(), read            the listing scanned from every chunk's metadata
  articles(), kept            the same call with nothing written since

  .venv/bin/python scripts/bench_changes.py                  # 2,000 articles, 200 repeats
  .venv/bin/python scripts/bench_changes.py --articles 200 --repeats 50 --json out.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from helpers.servers import ChromaServer  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402

from qa.retrieve import make_retriever  # noqa: E402
from qa.settings import get_settings  # noqa: E402
from vectorstore.store import NewsStore  # noqa: E402
from vectorstore.types import Article  # noqa: E402

WORDS = "ferry council budget election court vaccine harbour tariff rail strike museum".split()


class HashEmbeddings(Embeddings):
    """64-d vectors from a text's hash: cheap and deterministic."""

    def _vector(self, text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest() * 2
        return [b / 255 for b in digest[:64]]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


def article(n: int) -> Article:
    words = " ".join(WORDS[(n + i) % len(WORDS)] for i in range(40))
    return Article(
        title=f"Story {n}",
        text=f"Story {n} reports on the {words}. " * 3,
        source=f"Outlet {n % 7}",
        published=f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
        url=f"https://news.example/{n}",
    )


def timed(fn, repeats: int) -> dict:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    seconds.sort()
    return {
        "p50_ms": round(1000 * statistics.median(seconds), 2),
        "p95_ms": round(1000 * seconds[int(0.95 * (len(seconds) - 1))], 2),
        "repeats": repeats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--articles", type=int, default=2000, help="stored first (default 2000)")
    parser.add_argument("--repeats", type=int, default=200, help="timed calls (default 200)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="newsqa-changes-"))
    server = ChromaServer(work / "server", work / "server.log")
    server.start()
    port = server.port
    try:

        def opened(name: str):
            settings = get_settings(
                {"store": {"path": work / name, "chroma_host": "127.0.0.1", "chroma_port": port}}
            )
            store = NewsStore(settings.store, HashEmbeddings())
            return store, make_retriever(store, settings.retrieval)

        writer, _ = opened("writer")
        report = writer.ingest((article(n) for n in range(args.articles)), progress=False)
        reader, retriever = opened("reader")
        figures = {"articles": args.articles, "chunks": report.chunks_written}
        figures["refresh, nothing new"] = timed(reader.refresh, args.repeats)
        counter = iter(range(args.articles, 10**9))

        def one_new():
            writer.ingest([article(next(counter))], progress=False)
            start = time.perf_counter()
            reader.refresh()
            return time.perf_counter() - start

        taken = sorted(one_new() for _ in range(min(args.repeats, 50)))
        figures["refresh, one new article"] = {
            "p50_ms": round(1000 * statistics.median(taken), 2),
            "p95_ms": round(1000 * taken[int(0.95 * (len(taken) - 1))], 2),
            "repeats": len(taken),
        }
        assert retriever.store.keyword.search(f"Story {args.articles}", 1)  # it did arrive

        def read():
            reader.forget_listing()
            reader.articles()

        figures["articles(), read"] = timed(read, max(5, args.repeats // 20))
        figures["articles(), kept"] = timed(reader.articles, args.repeats)
    finally:
        server.stop()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
