"""Speed and scale: ingestion vs the embedding model, retrieval latency at 10k/100k chunks.

  .venv/bin/python scripts/bench_perf.py ingest [--articles 80]
      ingestion chunks/s (NewsStore.ingest with the keyword index attached) against the embedding
      model's own chunks/s on the same chunks, measured model / ingest / model in one process
  .venv/bin/python scripts/bench_perf.py scale [--sizes 10000 100000] [--queries 200]
      synthetic chunks (sentences of the real corpus) with random unit vectors, written straight
      into Chroma and the keyword index; retrieval latency p50/p95 on embedded Chroma and on a
      `chroma run` server over the same folder; keyword-index update costs; peak memory.
      Each size runs in its own process so that its peak memory is its own.
  .venv/bin/python scripts/bench_perf.py all --write   # both, and update docs/performance.md

Question embedding is left out of the scale latencies (the vectors are random); the ingest step
reports the model's own time for one question.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from helpers.servers import ChromaServer  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "realtimeqa-dev"
DIM = 384


def _maxrss_mb() -> float:
    """This process's peak resident memory. Linux's ru_maxrss survives fork + exec (a child
    starts at its parent's peak), so read the memory map's own high-water mark when there is one."""
    status = Path("/proc/self/status")
    if status.exists():
        return int(re.search(r"VmHWM:\s+(\d+)", status.read_text()).group(1)) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _pcts(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
    }


def _articles(n: int, seed: int = 0):
    from vectorstore.ingest.load import load_sources
    from vectorstore.types import Article

    items = [a for a in load_sources([str(DATA / "articles.jsonl")]) if isinstance(a, Article)]
    return random.Random(seed).sample(items, n)


def _questions(n: int, seed: int = 0) -> list[dict]:
    rows = [json.loads(line) for line in (DATA / "qa.jsonl").open(encoding="utf-8")]
    rows = [r for r in rows if r.get("evidence_article_ids")]
    return random.Random(seed).sample(rows, min(n, len(rows)))


# --- ingestion vs the model -----------------------------------------------------------------
def cmd_ingest(args) -> dict:
    from vectorstore.config import StoreSettings
    from vectorstore.embed import LocalEmbeddings
    from vectorstore.ingest.chunk import chunk_article
    from vectorstore.keyword import KeywordIndex
    from vectorstore.store import NewsStore

    articles = _articles(args.articles, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        settings = StoreSettings(path=Path(tmp) / "store")
        chunks = [
            c
            for a in articles
            for c in chunk_article(a, settings.chunk_size, settings.chunk_overlap)
        ]
        embeddings = LocalEmbeddings(batch_size=settings.embedding_batch_size)
        embeddings.embed_documents([c.embed_text for c in chunks[:32]])  # load and warm up

        # Alternate the model alone and ingestion over parts of the corpus, so that the other
        # jobs on these shared cores weigh on both alike.
        store = NewsStore(settings, embeddings, listeners=[KeywordIndex.for_store(settings)])
        model_s = ingest_s = 0.0
        model_n = ingest_n = 0
        parts = [articles[i :: args.rounds] for i in range(args.rounds)]
        for part in parts:
            texts = [
                c.embed_text
                for a in part
                for c in chunk_article(a, settings.chunk_size, settings.chunk_overlap)
            ]
            start = time.perf_counter()
            step = settings.embedding_batch_size * 4  # the batches ingestion embeds
            for i in range(0, len(texts), step):
                embeddings.embed_documents(texts[i : i + step])
            model_s += time.perf_counter() - start
            model_n += len(texts)
            report = store.ingest(part, progress=False)
            ingest_s += report.seconds
            ingest_n += report.chunks_written
        model, ingest = model_n / model_s, ingest_n / ingest_s
        starts = [time.perf_counter()]
        for q in _questions(50):
            embeddings.embed_query(q["question"])
            starts.append(time.perf_counter())
    result = {
        "articles": len(articles),
        "chunks": len(chunks),
        "rounds": args.rounds,
        "model_chunks_per_s": round(model, 1),
        "ingest_chunks_per_s": round(ingest, 1),
        "ratio": round(ingest / model, 3),
        "question_embed": _pcts(list(np.diff(starts))),
        "maxrss_mb": round(_maxrss_mb()),
    }
    print(json.dumps(result), flush=True)
    return result


# --- scale ---------------------------------------------------------------------------------
def _sentence_pool(limit: int = 60000) -> list[str]:
    pool: list[str] = []
    with (DATA / "articles.jsonl").open(encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["text"]
            pool += [s for s in re.split(r"(?<=[.!?])\s+", text) if 40 < len(s) < 300]
            if len(pool) >= limit:
                break
    return pool


class _RandomQueryEmbeddings:
    """Random unit vectors: the latency of search alone, without the model."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def embed_query(self, text: str) -> list[float]:
        v = self.rng.standard_normal(DIM).astype(np.float32)
        return (v / np.linalg.norm(v)).tolist()

    def embed_documents(self, texts):
        return [self.embed_query(t) for t in texts]


def _synthetic(n: int, pool: list[str], rng: random.Random):
    from vectorstore.types import Chunk, date_to_timestamp

    vectors = np.random.default_rng(rng.randrange(1 << 30)).standard_normal((n, DIM))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    sources = ["CNN", "USA Today", "The Week"]
    chunks = []
    for i in range(n):
        article = i // 10
        day = f"20{rng.randint(22, 23)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        meta = {
            "article_id": f"syn{article}",
            "title": rng.choice(pool)[:80],
            "source": sources[article % 3],
            "published": day,
            "published_ts": date_to_timestamp(day),
            "chunk": i % 10,
            "chunks": 10,
        }
        text = " ".join(rng.choice(pool) for _ in range(5))[:800]
        chunks.append(Chunk(id=f"syn{article}:{i % 10}", text=text, embed_text=text, metadata=meta))
    return chunks, vectors


def _measure(store, index, questions) -> dict:
    from qa.retrieve import HybridRetriever
    from vectorstore.types import Filters

    store.listeners.append(index)  # the store's keyword index (checked against it at warm-up)
    retriever = HybridRetriever(store)
    timings: dict[str, list[float]] = {
        "dense": [],
        "bm25": [],
        "hybrid": [],
        "hybrid_dated": [],
        "hybrid_filtered": [],
    }
    for q in questions[:3]:  # warm up
        retriever.retrieve(q["question"], 4)
    recent = Filters(sources=["CNN"], date_from="2023-01-01")
    for q in questions:
        text, day = q["question"], q["question_date"]
        vector = store.embeddings.embed_query(text)
        for name, run, arg in (
            ("dense", lambda v: store.search_dense(v, 60), vector),
            ("bm25", lambda t: index.search(t, 60), text),
            ("hybrid", lambda t: retriever.retrieve(t, 4), text),
            ("hybrid_dated", lambda t: retriever.retrieve(t, 4, question_date=day), text),  # noqa: B023
            ("hybrid_filtered", lambda t: retriever.retrieve(t, 4, recent), text),
        ):
            start = time.perf_counter()
            run(arg)
            timings[name].append(time.perf_counter() - start)
    return {name: _pcts(t) for name, t in timings.items()}


def _server_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024


def cmd_scale_one(args) -> dict:
    """One size, in this process: build, measure embedded, then a server on the same folder."""
    import chromadb

    from vectorstore.config import StoreSettings
    from vectorstore.keyword import KeywordIndex
    from vectorstore.store import NewsStore

    n, rng = args.size, random.Random(args.size)
    pool = _sentence_pool()
    questions = _questions(args.queries)
    out: dict = {"chunks": n}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        settings = StoreSettings(path=Path(tmp) / "store")
        store = NewsStore(settings, _RandomQueryEmbeddings())
        chunks, vectors = _synthetic(n, pool, rng)
        start = time.perf_counter()
        step = 5000
        for i in range(0, n, step):
            part = chunks[i : i + step]
            store.collection.add(
                ids=[c.id for c in part],
                embeddings=vectors[i : i + step],
                documents=[c.text for c in part],
                metadatas=[c.metadata for c in part],
            )
        out["chroma_insert_s"] = round(time.perf_counter() - start, 1)

        index = KeywordIndex.for_store(settings)
        start = time.perf_counter()
        for i in range(0, n, step):  # in sync's pages, one commit each
            index.upsert(chunks[i : i + step])
        out["keyword_build_s"] = round(time.perf_counter() - start, 1)
        article = chunks[:10]
        start = time.perf_counter()
        index.upsert(article)  # one article: one commit
        out["keyword_upsert_article_ms"] = round((time.perf_counter() - start) * 1000, 1)
        start = time.perf_counter()
        index.search(questions[0]["question"], 60)
        out["keyword_first_query_after_upsert_ms"] = round((time.perf_counter() - start) * 1000, 1)
        start = time.perf_counter()
        opened = KeywordIndex.for_store(settings)
        out["keyword_open_s"] = round(time.perf_counter() - start, 2)
        tracemalloc.start()  # Python's share only: tantivy's own memory and its mmaps are not seen
        KeywordIndex.for_store(settings)
        out["keyword_python_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
        start = time.perf_counter()
        opened.sync(store)
        out["keyword_sync_check_s"] = round(time.perf_counter() - start, 2)

        out["embedded"] = _measure(store, index, questions)
        out["maxrss_mb_embedded"] = round(_maxrss_mb())
        del store
        chromadb.api.client.SharedSystemClient.clear_system_cache()

        server = ChromaServer(settings.path, Path(tmp) / "server.log")
        server.start()
        try:
            remote = StoreSettings(
                path=settings.path, chroma_host="127.0.0.1", chroma_port=server.port
            )
            store = NewsStore(remote, _RandomQueryEmbeddings(1))
            assert store.count() == n, store.count()
            out["server"] = _measure(store, index, questions)
            out["server_maxrss_mb"] = round(_server_rss_mb(server.proc.pid))
        finally:
            server.stop()
    out["maxrss_mb"] = round(_maxrss_mb())
    print(json.dumps(out), flush=True)
    return out


def cmd_scale(args) -> list[dict]:
    results = []
    for size in args.sizes:
        cmd = [
            sys.executable,
            __file__,
            "scale-one",
            "--size",
            str(size),
            "--queries",
            str(args.queries),
        ] + (["--tmp", args.tmp] if args.tmp else [])
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"size {size} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    return results


def render_ingest(ingest: dict) -> str:
    return (
        "\n".join(
            [
                f"Ingestion of {ingest['articles']} articles ({ingest['chunks']} chunks), keyword "
                "index attached:",
                "",
                "| | chunks/s |",
                "| --- | --- |",
                f"| embedding model alone ({ingest['rounds']} rounds, alternating with ingestion) "
                f"| {ingest['model_chunks_per_s']} |",
                f"| `NewsStore.ingest` | {ingest['ingest_chunks_per_s']} |",
                f"| ratio | **{ingest['ratio']}** |",
                "",
                f"One question embedded: p50 {ingest['question_embed']['p50_ms']} ms, "
                f"p95 {ingest['question_embed']['p95_ms']} ms; peak memory with the model loaded "
                f"{ingest['maxrss_mb']} MB.",
                "",
            ]
        )
        + "\n"
    )


def render_scale(scale: list[dict]) -> str:
    lines = [
        "Retrieval latency (ms, p50 / p95; question embedding excluded):",
        "",
        "| chunks | Chroma | dense | bm25 | hybrid | hybrid + question date | hybrid + filters |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in scale:
        for where in ("embedded", "server"):
            m = r[where]
            cells = " | ".join(
                f"{m[k]['p50_ms']} / {m[k]['p95_ms']}"
                for k in ("dense", "bm25", "hybrid", "hybrid_dated", "hybrid_filtered")
            )
            lines.append(f"| {r['chunks']:,} | {where} | {cells} |")
    lines += [
        "",
        "Keyword index and memory:",
        "",
        "| chunks | build s | upsert 1 article ms "
        "| open s | sync check s | index in memory MB | process peak RSS MB "
        "| server peak RSS MB | Chroma insert s |",
        "|" + " --- |" * 9,
    ]
    for r in scale:
        lines.append(
            f"| {r['chunks']:,} | {r['keyword_build_s']} "
            f"| {r['keyword_upsert_article_ms']} | {r['keyword_open_s']} "
            f"| {r['keyword_sync_check_s']} | {r['keyword_python_peak_mb']} "
            f"| {r['maxrss_mb']} | {r['server_maxrss_mb']} | {r['chroma_insert_s']} |"
        )
    return "\n".join(lines) + "\n"


def write_doc(section: str, table: str) -> None:
    """Replace the text between `<!-- section -->` and `<!-- /section -->` in performance.md."""
    doc = ROOT / "docs" / "performance.md"
    text = doc.read_text()
    head, rest = text.split(f"<!-- {section} -->", 1)
    _, tail = rest.split(f"<!-- /{section} -->", 1)
    doc.write_text(f"{head}<!-- {section} -->\n{table}<!-- /{section} -->{tail}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="step", required=True)
    for name in ("ingest", "all"):
        p = sub.add_parser(name)
        p.add_argument("--articles", type=int, default=80)
        p.add_argument("--rounds", type=int, default=4, help="model/ingest alternations")
    for name in ("scale", "scale-one", "all"):
        p = sub.choices.get(name) or sub.add_parser(name)
        p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
        p.add_argument("--size", type=int, default=10_000)
        p.add_argument("--queries", type=int, default=200)
        p.add_argument("--tmp", default=None, help="folder for the temporary stores")
    for name in ("ingest", "scale", "all"):
        sub.choices[name].add_argument(
            "--write", action="store_true", help="update docs/performance.md"
        )
    args = parser.parse_args(argv)
    if args.step == "scale-one":
        cmd_scale_one(args)
        return
    if args.step in ("ingest", "all"):
        table = render_ingest(cmd_ingest(args))
        print(table)
        if args.write:
            write_doc("ingest", table)
    if args.step in ("scale", "all"):
        table = render_scale(cmd_scale(args))
        print(table)
        if args.write:
            write_doc("scale", table)


if __name__ == "__main__":
    main()
