"""Crash-test driver: ingest, or assemble the local model, in a process that may be killed.

    python -m tests.crash_driver corpus OUT.jsonl --variant 1 [--articles 120]
    python -m tests.crash_driver ingest --store DIR SOURCE... [--sleep 0.01] [--progress FILE]
        [--verify REFERENCE]
    python -m tests.crash_driver cli --store DIR SOURCE...     # `newsqa ingest`, real models
    python -m tests.crash_driver assemble --cache DIR [--model qwen2.5-0.5b]
    python -m tests.crash_driver verify STORE REFERENCE [--real]

`ingest` runs the product path (NewsQA: NewsStore + the keyword index attached by
make_retriever) with FakeEmbeddings: the crash property is about the store and the index, not the
model. `--sleep` slows each embedding batch so kills land at many points, `--index-sleep` each
keyword index write (after Chroma's: a kill then leaves the index short); `--progress` appends
`batch` / `index` / `done` lines (with a time) to tell where a kill landed.
`verify()` compares a store with a reference ingest of the same sources (used by
scripts/stress_crash.py and tests/test_crash.py).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import SAMPLES, FakeEmbeddings  # noqa: E402

WORDS = [
    "harbor",
    "council",
    "budget",
    "tram",
    "strike",
    "rates",
    "bank",
    "river",
    "storm",
    "league",
    "final",
    "permit",
    "orbit",
    "satellite",
    "mayor",
    "tenants",
    "rent",
    "factory",
    "battery",
    "price",
    "union",
    "court",
    "ruling",
    "vote",
    "election",
    "minister",
    "ferry",
    "bridge",
    "school",
    "hospital",
    "drought",
    "harvest",
    "port",
    "shipping",
    "tariff",
]


def make_corpus(path: Path, variant: int, articles: int = 120, seed: int = 7) -> Path:
    """JSON Lines of generated articles with stable URLs; each variant rewrites about a third
    of them at a new length, so re-ingesting another variant updates and deletes chunks."""
    rows = []
    for n in range(articles):
        changed = variant and random.Random(f"{seed}-{variant}-{n}").random() < 0.35
        rng = random.Random(f"{seed}-{n}-{variant if changed else 0}")
        sentences = [
            f"{' '.join(rng.choices(WORDS, k=rng.randint(8, 16))).capitalize()} in Town{n}."
            for _ in range(rng.randint(3, 30))
        ]
        rows.append(
            {
                "title": f"Town{n} report {rng.randint(1, 999)}",
                "source": "Crash Wire",
                "published": f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
                "url": f"https://crash.example/{n}",
                "text": " ".join(sentences),
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


class _Progress:
    def __init__(self, path: str | None) -> None:
        self.file = open(path, "a", buffering=1) if path else None  # noqa: SIM115

    def __call__(self, event: str) -> None:
        if self.file:
            self.file.write(f"{event} {time.time():.3f}\n")


class SlowEmbeddings(FakeEmbeddings):
    """FakeEmbeddings that sleep per batch and report each batch."""

    def __init__(self, sleep: float, progress: _Progress) -> None:
        self.sleep, self.progress = sleep, progress

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.progress("batch")
        time.sleep(self.sleep)
        return super().embed_documents(texts)


def _slow_index_writes(index, sleep: float, progress: _Progress) -> None:
    """Each keyword index upsert reports `index` and sleeps first (Chroma has the batch)."""
    upsert = index.upsert

    def slowed(chunks) -> None:
        progress("index")
        time.sleep(sleep)
        upsert(chunks)

    index.upsert = slowed


def settings_for(store: Path, batch: int = 4):
    """The product's settings with the store in `store` and small write batches."""
    from qa.settings import get_settings

    return get_settings(
        {
            "store": {
                "path": store,
                "embedding_batch_size": batch,
                "chunk_size": 300,
                "chunk_overlap": 60,
            },
            "retrieval": {"min_score": 0.0},
        }
    )


def open_qa(store: Path, embeddings=None):
    """NewsQA over `store` exactly as the product opens it (keyword index synced + attached)."""
    from qa.chain import NewsQA

    return NewsQA(settings_for(store), embeddings=embeddings or FakeEmbeddings())


def unreachable(store: Path, ef_search: int = 2000) -> list[str]:
    """Chunks that Chroma's vector index cannot find by their own vector (searched near-exactly).

    Call before anything else opens `store` in this process: ef_search applies from the first
    query on.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(str(store), ChromaSettings(anonymized_telemetry=False))
    col = client.get_collection("news")
    col.modify(configuration={"hnsw": {"ef_search": ef_search}})
    got = col.get(include=["embeddings"])
    missing = []
    for i, vector in zip(got["ids"], got["embeddings"], strict=True):
        found = col.query(query_embeddings=[list(vector)], n_results=1, include=["distances"])
        if found["ids"][0][:1] != [i] and not found["distances"][0][0] < 1e-6:
            missing.append(i)
    return missing


def verify(store: Path, reference: Path, embeddings=None) -> dict[str, list]:
    """Problems in `store` compared with a clean ingest of the same sources into `reference`."""
    from chromadb.api.client import SharedSystemClient

    from qa.retrieve import make_retriever
    from vectorstore.keyword import KeywordIndex

    # Embedded Chroma caches a store's state per process; other processes have written since.
    SharedSystemClient.clear_system_cache()
    raw_index = KeywordIndex.for_store(settings_for(store).store).ids()  # before any repair
    lost_vectors = unreachable(store)
    got, want = open_qa(store, embeddings), open_qa(reference, embeddings)
    g = got.store.collection.get(include=["metadatas", "documents", "embeddings"])
    w = want.store.collection.get(include=["metadatas", "documents", "embeddings"])
    gm = {
        i: (m["fingerprint"], d, e)
        for i, m, d, e in zip(
            g["ids"], g["metadatas"], g["documents"], g["embeddings"], strict=True
        )
    }
    wm = {
        i: (m["fingerprint"], d, e)
        for i, m, d, e in zip(
            w["ids"], w["metadatas"], w["documents"], w["embeddings"], strict=True
        )
    }
    problems: dict[str, list] = {
        "lost_articles": sorted({i.rsplit(":", 1)[0] for i in set(wm) - set(gm)}),
        "duplicate_chunks": sorted({i for i in g["ids"] if g["ids"].count(i) > 1})
        + ([f"count {got.store.count()} != {len(gm)}"] if got.store.count() != len(gm) else []),
        "orphans": sorted(set(gm) - set(wm)),
        "stale_chunks": sorted(
            i
            for i in set(gm) & set(wm)
            if gm[i][:2] != wm[i][:2] or float(abs(gm[i][2] - wm[i][2]).max()) > 1e-5
        ),
        "unreachable_vectors": lost_vectors,
        "index_mismatches": [],
        "search_failures": [],
    }
    index = make_retriever(got.store, got.settings.retrieval).store.keyword
    for name, ids in (("raw", raw_index), ("product", index.ids())):
        if ids != set(gm):
            problems["index_mismatches"].append(
                f"{name} index: {len(ids - set(gm))} extra, {len(set(gm) - ids)} missing"
            )
    # Each chunk's words and its article fingerprint are one document of the index (written
    # in one commit), so a fingerprint that matches means the words are those of the stored text.
    held = index.fingerprints()
    problems["index_mismatches"] += [
        f"{i}: the index holds the words of another version of the article"
        for i, (fingerprint, _, _) in gm.items()
        if i in held and held[i] != fingerprint
    ]
    # A title finds its own article through the product's hybrid retriever and through BM25.
    titles = {m["article_id"]: m["title"] for m in w["metadatas"]}
    for article, title in sorted(titles.items())[:: max(1, len(titles) // 12)]:
        hybrid = [d.metadata["article_id"] for d, _ in got.retriever.retrieve(title, 3)]
        keyword = [i.rsplit(":", 1)[0] for i, _ in got.retriever.store.keyword.search(title, 3)]
        if hybrid[:1] != [article] or keyword[:1] != [article]:
            problems["search_failures"].append(f"{title!r}: hybrid {hybrid}, bm25 {keyword}")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus", help="write a generated corpus variant as JSON Lines")
    c.add_argument("out", type=Path)
    c.add_argument("--variant", type=int, default=0)
    c.add_argument("--articles", type=int, default=120)
    for name in ("ingest", "cli"):
        s = sub.add_parser(name, help=f"{name}: store SOURCEs into --store")
        s.add_argument("sources", nargs="+")
        s.add_argument("--store", type=Path, required=True)
        s.add_argument("--sleep", type=float, default=0.0, help="seconds per embedding batch")
        s.add_argument("--index-sleep", type=float, default=0.0, help="seconds per index write")
        s.add_argument("--progress", help="append progress events to this file")
        s.add_argument(
            "--verify",
            type=Path,
            metavar="REFERENCE",
            help="then print verify()'s problems against REFERENCE as JSON",
        )
    v = sub.add_parser("verify", help="print verify()'s problems as JSON")
    v.add_argument("store", type=Path)
    v.add_argument("reference", type=Path)
    v.add_argument("--real", action="store_true", help="search with the real embedding model")
    a = sub.add_parser("assemble", help="assemble the local model into --cache")
    a.add_argument("--cache", type=Path, required=True)
    a.add_argument("--model", default="qwen2.5-0.5b")
    args = p.parse_args(argv)
    if args.cmd == "corpus":
        make_corpus(args.out, args.variant, args.articles)
    elif args.cmd == "ingest":
        progress = _Progress(args.progress)
        qa = open_qa(args.store, SlowEmbeddings(args.sleep, progress))
        if args.index_sleep:
            _slow_index_writes(qa.retriever.store.keyword, args.index_sleep, progress)
        report = qa.ingest(args.sources, progress=False)
        progress("done")
        print(json.dumps({**report.counts(), "failures": [str(f) for f in report.failed]}))
        if args.verify:  # reopened from disk: verify() drops this process's Chroma state first
            print(json.dumps(verify(args.store, args.verify)))
        return 3 if report.failed else 0
    elif args.cmd == "verify":
        from vectorstore.embed import LocalEmbeddings

        embeddings = LocalEmbeddings() if args.real else None
        print(json.dumps(verify(args.store, args.reference, embeddings)))
    elif args.cmd == "cli":
        from qa.cli import main as cli_main

        return cli_main(["ingest", "--store", str(args.store), *args.sources])
    else:
        from qa.models import local_model_path

        print(local_model_path(args.model, args.cache))
    return 0


__all__ = ["SAMPLES", "make_corpus", "open_qa", "verify"]

if __name__ == "__main__":
    sys.exit(main())
