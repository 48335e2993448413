"""Retrieval benchmark on realtimeqa-dev: BM25, dense, hybrid (RRF) and hybrid + rerank.

Retrieval only (no chat model). Metrics by evidence article id over the ranked list of distinct
articles: hit@k = an evidence article among the first k; mrr@10 = 1/rank of the first one in the
first 10 (0 when none), averaged over the 951 answerable questions.

Steps (each reuses what the earlier ones left in --work, default /tmp/newsqa-rtqa):
  ingest  embed the whole corpus with the product's NewsStore (resumable: re-running skips what is
          stored), timing ingestion against the embedding model's own speed on the same chunks
  index   open the keyword index beside the store and repair it from the collection (timed)
  cache   embed the questions; cache every ranker's candidates for `tune`
  tune    grid-search fusion and rerank weights on the cached candidates (2-fold check)
  run     the table: bm25, dense, hybrid (rrf) and each rerank step, through the product's
          retrievers; --write updates docs/retrieval.md
  hnsw    recall@10 of Chroma's HNSW against exact search, for several settings

  .venv/bin/python scripts/bench_retrieval.py ingest   # ~30-70 min on 2 shared cores
  .venv/bin/python scripts/bench_retrieval.py index
  .venv/bin/python scripts/bench_retrieval.py run --write
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "realtimeqa-dev"
DEFAULT_WORK = Path("/tmp/newsqa-rtqa")


class _ChunkLog:
    """A listener that records every chunk written (used when no keyword index is at hand)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def upsert(self, chunks) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            for c in chunks:
                f.write(
                    json.dumps({"op": "upsert", "id": c.id, "text": c.text, "metadata": c.metadata})
                    + "\n"
                )

    def delete(self, ids) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            for i in ids:
                f.write(json.dumps({"op": "delete", "id": i}) + "\n")


def load_articles(path: Path):
    from vectorstore.ingest.load import load_sources
    from vectorstore.types import Failure

    articles = []
    for item in load_sources([str(path)]):
        if isinstance(item, Failure):
            print("failed:", item, file=sys.stderr)
        else:
            articles.append(item)
    return articles


def store_settings(work: Path, **extra):
    from vectorstore.config import StoreSettings

    return StoreSettings(path=work / "store", **extra)


def model_speed(embeddings, chunks, batch_size: int) -> float:
    """The embedding model's own chunks/s on these chunks (one warm-up batch first)."""
    model = embeddings.model
    texts = [c.embed_text for c in chunks]
    model.encode(
        texts[:batch_size],
        batch_size=batch_size,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    start = time.perf_counter()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return len(texts) / (time.perf_counter() - start)


def cmd_ingest(args) -> None:
    from vectorstore.embed import LocalEmbeddings
    from vectorstore.ingest.chunk import chunk_article
    from vectorstore.store import NewsStore

    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    settings = store_settings(work)
    articles = load_articles(args.data / "articles.jsonl")
    embeddings = LocalEmbeddings(batch_size=settings.embedding_batch_size)
    listeners = []
    try:
        from vectorstore.keyword import KeywordIndex

        listeners.append(KeywordIndex.for_store(settings))
        print("keyword index attached", flush=True)
    except ImportError:
        listeners.append(_ChunkLog(work / "chunks.log.jsonl"))
        print("keyword index not available yet: logging chunks", flush=True)
    store = NewsStore(settings, embeddings, listeners=listeners)

    sample = []
    for a in articles[:: max(1, len(articles) // 60)]:
        sample.extend(chunk_article(a, settings.chunk_size, settings.chunk_overlap))
        if len(sample) >= args.sample_chunks:
            break
    sample = sample[: args.sample_chunks]
    before = model_speed(embeddings, sample, settings.embedding_batch_size)
    print(f"model alone (before): {before:.1f} chunks/s on {len(sample)} chunks", flush=True)

    count0 = store.count()
    report = store.ingest(articles, progress=args.progress, total=len(articles))
    print(report.summary(), flush=True)
    ingest_rate = report.chunks_written / report.seconds if report.seconds else 0.0

    after = model_speed(embeddings, sample, settings.embedding_batch_size)
    print(f"model alone (after): {after:.1f} chunks/s", flush=True)
    record = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "articles": len(articles),
        "chunks_before": count0,
        "chunks_after": store.count(),
        "chunks_written": report.chunks_written,
        "seconds": round(report.seconds, 1),
        "ingest_chunks_per_s": round(ingest_rate, 2),
        "model_chunks_per_s_before": round(before, 2),
        "model_chunks_per_s_after": round(after, 2),
        "ratio": round(ingest_rate / ((before + after) / 2), 3) if ingest_rate else None,
        "counts": report.counts(),
        "cpu_count": os.cpu_count(),
    }
    with (work / "ingest_runs.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


# --- questions and metrics ---------------------------------------------------------------
def load_questions(data: Path) -> list[dict]:
    """The answerable questions (those with evidence articles)."""
    rows = [json.loads(line) for line in (data / "qa.jsonl").open(encoding="utf-8")]
    return [q for q in rows if q.get("evidence_article_ids")]


def article_of(chunk_id: str) -> str:
    return chunk_id.rsplit(":", 1)[0]


def distinct_articles(chunk_ids) -> list[str]:
    return list(dict.fromkeys(article_of(i) for i in chunk_ids))


def metrics(ranked_articles: list[list[str]], questions: list[dict]) -> dict[str, float]:
    """hit@1/5/10 and mrr@10 over ranked lists of distinct article ids."""
    hits = {1: 0, 5: 0, 10: 0}
    rr = 0.0
    for articles, q in zip(ranked_articles, questions, strict=True):
        gold = set(q["evidence_article_ids"])
        first = next((n for n, a in enumerate(articles[:10], 1) if a in gold), None)
        for k in hits:
            hits[k] += first is not None and first <= k
        rr += 1 / first if first else 0.0
    n = len(questions) or 1
    return {"hit@1": hits[1] / n, "hit@5": hits[5] / n, "hit@10": hits[10] / n, "mrr@10": rr / n}


class CachedEmbeddings:
    """The real model, with question vectors cached on disk (questions repeat across runs)."""

    def __init__(self, inner, path: Path) -> None:
        import numpy as np

        self.inner, self.path = inner, path
        self.cache: dict[str, list[float]] = {}
        if path.exists():
            data = np.load(path, allow_pickle=False)
            self.cache = {k: data[k].tolist() for k in data.files}
        self.seconds, self.calls = 0.0, 0

    def embed_query(self, text: str) -> list[float]:
        if text not in self.cache:
            start = time.perf_counter()
            self.cache[text] = self.inner.embed_query(text)
            self.seconds += time.perf_counter() - start
            self.calls += 1
        return self.cache[text]

    def embed_documents(self, texts):
        return self.inner.embed_documents(texts)

    def save(self) -> None:
        import numpy as np

        np.savez(self.path, **self.cache)


def open_store(args, with_index: bool = True):
    from vectorstore.embed import LocalEmbeddings
    from vectorstore.keyword import KeywordIndex
    from vectorstore.store import NewsStore

    settings = store_settings(args.work)
    embeddings = CachedEmbeddings(LocalEmbeddings(), args.work / "question_vectors.npz")
    index = KeywordIndex.for_store(settings) if with_index else None
    store = NewsStore(settings, embeddings, listeners=[index] if index else [])  # store.keyword
    return store, index, embeddings


def cmd_index(args) -> None:
    from vectorstore.keyword import KeywordIndex

    store, _, _ = open_store(args, with_index=False)
    start = time.perf_counter()
    index = KeywordIndex.for_store(store.settings)
    opened = time.perf_counter() - start
    start = time.perf_counter()
    result = index.sync(store)
    print(
        f"opened in {opened:.2f} s; sync {result} in {time.perf_counter() - start:.1f} s; "
        f"{len(index)} chunks, collection {store.count()}"
    )


# --- candidates cache and tuning ----------------------------------------------------------
WINDOWS = [(-1, 7), (-2, 10), (0, 7), (-1, 14)]
POOL = 100  # candidates cached per ranker; tuning takes the first `candidates` of each


def cmd_cache(args) -> None:
    from qa.retrieve import HybridParams, HybridRetriever

    store, index, embeddings = open_store(args)
    print("keyword index sync:", index.sync(store), flush=True)
    questions = load_questions(args.data)
    cache = {}
    start = time.perf_counter()
    for n, q in enumerate(questions):
        entry = {}
        for window in WINDOWS:
            retriever = HybridRetriever(store, HybridParams(candidates=POOL, date_window=window))
            found = retriever.candidates(q["question"], None, q["question_date"])
            if not entry:
                entry["dense"] = [[d.id for d, _ in found.dense[0]]]
                entry["keyword"] = [[i for i, _ in found.keyword[0]]]
            entry["dense"].append([d.id for d, _ in found.dense[1]])
            entry["keyword"].append([i for i, _ in found.keyword[1]])
        cache[q["id"]] = entry
        if n % 100 == 0:
            print(f"{n}/{len(questions)} {time.perf_counter() - start:.0f} s", flush=True)
    embeddings.save()
    (args.work / "candidates.json").write_text(json.dumps(cache))


class Tuner:
    """Scores HybridParams on cached candidates with the product's own fuse() and rank()."""

    def __init__(self, args) -> None:
        import functools

        from langchain_core.documents import Document

        import qa.features

        qa.features.word_set = functools.cache(qa.features.word_set.__wrapped__)  # unbounded
        store, _, _ = open_store(args, with_index=False)
        self.docs = {
            d.id: (Document(page_content=d.page_content, metadata=d.metadata, id=d.id), 0.0)
            for d in store.iter_chunks()
        }
        self.cache = json.loads((args.work / "candidates.json").read_text())
        self.questions = [q for q in load_questions(args.data) if q["id"] in self.cache]

    def ranked(self, params, questions) -> list[list[str]]:
        from qa.retrieve import Candidates, fuse, rank

        out = []
        w = WINDOWS.index(tuple(params.date_window)) + 1
        n = params.candidates
        for q in questions:
            entry = self.cache[q["id"]]
            found = Candidates(vector=[])
            scopes = [0, w] if params.window_weight > 0 else [0]
            dense_scopes = scopes if params.window_dense else [0]
            found.dense = [[self.docs[i] for i in entry["dense"][s][:n]] for s in dense_scopes]
            found.keyword = [[(i, 0.0) for i in entry["keyword"][s][:n]] for s in scopes]
            fused = fuse(found, params)
            ranked = rank(q["question"], fused, self.docs, q["question_date"], params)
            out.append(distinct_articles(i for i, _ in ranked[:60]))
        return out

    def score(self, params, questions=None) -> dict[str, float]:
        questions = questions or self.questions
        return metrics(self.ranked(params, questions), questions)


GRID = {
    "window_dense": [True, False],
    "candidates": [30, 60, 100],
    "rrf_k": [10, 30, 60, 100],
    "keyword_weight": [0.5, 0.75, 1.0, 1.5, 2.0],
    "window_weight": [0.0, 0.5, 1.0, 2.0],
    "date_window": WINDOWS,
    "date_weight": [0.0, 0.25, 0.5, 1.0, 2.0],
    "date_decay": [2.0, 4.0, 7.0, 14.0],
    "match_weight": [0.0, 0.15, 0.3, 0.6, 1.0],
    "title_weight": [0.0, 0.1, 0.2, 0.4],
    "article_weight": [0.0, 0.1, 0.25, 0.5, 1.0],
}


def objective(m: dict[str, float]) -> float:
    return m["hit@5"] + m["mrr@10"]


def coordinate_ascent(tuner, questions, start, rounds: int = 2, log=print):
    from dataclasses import replace

    best, best_m = start, tuner.score(start, questions)
    for _ in range(rounds):
        changed = False
        for name, values in GRID.items():
            for value in values:
                trial = replace(best, **{name: value})
                m = tuner.score(trial, questions)
                if objective(m) > objective(best_m) + 1e-9:
                    best, best_m, changed = trial, m, True
                    log(f"  {name}={value}: " + fmt(m))
        if not changed:
            break
    return best, best_m


def fmt(m: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.3f}" for k, v in m.items())


def cmd_tune(args) -> None:
    from dataclasses import asdict, replace

    from qa.retrieve import HybridParams

    tuner = Tuner(args)
    qs = tuner.questions
    start = HybridParams()
    print("defaults:", fmt(tuner.score(start)), flush=True)
    for name, values in GRID.items():  # one at a time around the defaults
        for value in values:
            print(
                f"{name}={value}: " + fmt(tuner.score(replace(start, **{name: value}))), flush=True
            )
    halves = [qs[0::2], qs[1::2]]
    for n, (train, test) in enumerate([(halves[0], halves[1]), (halves[1], halves[0])]):
        print(f"fold {n}: tuning on {len(train)} questions", flush=True)
        best, _ = coordinate_ascent(tuner, train, start)
        print(f"fold {n} held-out: " + fmt(tuner.score(best, test)), flush=True)
        print(f"fold {n} params: {asdict(best)}", flush=True)
    print("all questions:", flush=True)
    best, m = coordinate_ascent(tuner, qs, start)
    print("best on all: " + fmt(m), "\n", asdict(best), flush=True)


def cmd_maxsim(args) -> None:
    """Does MiniLM on single sentences (max over a passage's sentences) rerank the top 10 better?"""
    import numpy as np

    from qa.retrieve import Candidates, HybridParams, fuse, rank
    from vectorstore.ingest.text import split_sentences

    tuner = Tuner(args)
    store, _, embeddings = open_store(args, with_index=False)
    params = HybridParams()
    questions = tuner.questions[: args.limit]
    base, rescored, seconds = [], {w: [] for w in (0.1, 0.25, 0.5, 1.0, 2.0)}, []
    for q in questions:
        entry = tuner.cache[q["id"]]
        w = WINDOWS.index(tuple(params.date_window)) + 1
        found = Candidates(vector=[])
        found.dense = [
            [tuner.docs[i] for i in entry["dense"][s][: params.candidates]] for s in (0, w)
        ]
        found.keyword = [
            [(i, 0.0) for i in entry["keyword"][s][: params.candidates]] for s in (0, w)
        ]
        ranked = rank(q["question"], fuse(found, params), tuner.docs, q["question_date"], params)
        best: dict[str, tuple[str, dict]] = {}
        for chunk_id, info in ranked:
            best.setdefault(article_of(chunk_id), (chunk_id, info))
            if len(best) == 10:
                break
        base.append(list(best))
        start = time.perf_counter()
        qv = np.asarray(embeddings.embed_query(q["question"]), np.float32)
        owners, sentences = [], []
        for article, (chunk_id, _) in best.items():
            for sentence in split_sentences(tuner.docs[chunk_id][0].page_content) or [""]:
                owners.append(article)
                sentences.append(sentence)
        vectors = np.asarray(embeddings.embed_documents(sentences), np.float32)  # one batch
        sims: dict[str, float] = {}
        for article, sim in zip(owners, vectors @ qv, strict=True):
            sims[article] = max(sims.get(article, -1.0), float(sim))
        seconds.append(time.perf_counter() - start)
        for weight, out in rescored.items():
            out.append(sorted(best, key=lambda a: -(best[a][1]["score"] + weight * sims[a])))
    print(f"{len(questions)} questions; sentence embedding {np.median(seconds):.2f} s/question")
    print("hybrid + rerank:", fmt(metrics(base, questions)))
    for weight, out in rescored.items():
        print(f"+ {weight} x sentence max-sim:", fmt(metrics(out, questions)), flush=True)


# --- the table -------------------------------------------------------------------------------
CONFIGS = {
    "bm25": None,
    "dense": None,
    "hybrid (rrf)": dict(rerank=False, window_weight=0.0),
    "+ BM25 candidates from the question's week": dict(rerank=False),
    "+ rerank: date prior only": dict(match_weight=0.0, title_weight=0.0, article_weight=0.0),
    "+ rerank: names/numbers, title, date (default)": {},
    "default, without the question date": {"no_date": True},
}


def run_config(name, overrides, store, index, questions, depth: int = 60):
    from qa.retrieve import HybridParams, HybridRetriever

    ranked, seconds = [], []
    for q in questions:
        start = time.perf_counter()
        if name == "bm25":
            ids = [i for i, _ in index.search(q["question"], depth)]
        elif name == "dense":
            ids = [d.id for d, _ in store.search(q["question"], depth)]
        else:
            options = dict(overrides)
            day = None if options.pop("no_date", False) else q.get("question_date")
            params = HybridParams(**{**options, "max_per_article": None})
            found = HybridRetriever(store, params).retrieve(q["question"], depth, question_date=day)
            ids = [d.id for d, _ in found]
        seconds.append(time.perf_counter() - start)
        ranked.append(distinct_articles(ids))
    return ranked, seconds


def cmd_run(args) -> None:
    import numpy as np

    store, index, embeddings = open_store(args)
    print("keyword index sync:", index.sync(store), flush=True)
    questions = load_questions(args.data)
    if args.limit:
        questions = questions[: args.limit]
    for q in questions:  # embed once, outside the timings
        embeddings.embed_query(q["question"])
    embeddings.save()
    rows = []
    for name, overrides in CONFIGS.items():
        ranked, seconds = run_config(name, overrides, store, index, questions)
        m = metrics(ranked, questions)
        m["ms_p50"] = float(np.percentile(seconds, 50) * 1000)
        rows.append((name, m))
        print(f"{name:56s} " + "  ".join(f"{k} {v:.3f}" for k, v in m.items()), flush=True)
    table = render_table(rows, len(questions), store.count())
    print(table)
    (args.work / "retrieval_table.md").write_text(table)
    if args.write:
        write_doc_table(table)


def render_table(rows, n_questions: int, n_chunks: int) -> str:
    lines = [
        f"{n_questions} questions, {n_chunks:,} chunks; latency excludes embedding the question.",
        "",
        "| retrieval | hit@1 | hit@5 | hit@10 | mrr@10 | p50 ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, m in rows:
        lines.append(
            f"| {name} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['hit@10']:.3f} "
            f"| {m['mrr@10']:.3f} | {m['ms_p50']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def write_doc_table(table: str) -> None:
    doc = ROOT / "docs" / "retrieval.md"
    text = doc.read_text() if doc.exists() else "<!-- table -->\n<!-- /table -->\n"
    head, rest = text.split("<!-- table -->", 1)
    _, tail = rest.split("<!-- /table -->", 1)
    doc.write_text(f"{head}<!-- table -->\n{table}<!-- /table -->{tail}")


# --- HNSW against exact search -------------------------------------------------------------
HNSW_BUILDS = [(100, 16), (200, 32), (400, 48)]  # (ef_construction, max_neighbors)
EF_SEARCH = [10, 20, 50, 100, 200]


def all_embeddings(collection, page: int = 5000):
    import numpy as np

    ids, vectors, stamps, offset = [], [], [], 0
    while True:
        got = collection.get(include=["embeddings", "metadatas"], limit=page, offset=offset)
        if not got["ids"]:
            break
        ids += got["ids"]
        vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
        stamps += [m.get("published_ts", -1) for m in got["metadatas"]]
        offset += len(got["ids"])
    return ids, np.vstack(vectors), np.asarray(stamps)


def recall_at_10(
    collection, queries, exact: list[dict[str, float]], where=None
) -> tuple[float, float]:
    """Mean recall@10 against exact search, and the p50 query time in ms.

    `exact[n]` maps chunk id -> similarity for every chunk at least as close as the exact 10th
    (ties included), so an equally close chunk counts as found.
    """
    import numpy as np

    recalls, seconds = [], []
    for n, q in enumerate(queries):
        start = time.perf_counter()
        got = collection.query(
            query_embeddings=[q.tolist()],
            n_results=10,
            include=[],
            where=where[n] if where else None,
        )
        seconds.append(time.perf_counter() - start)
        want = exact[n]
        recalls.append(min(1.0, len(set(got["ids"][0]) & set(want)) / max(min(len(want), 10), 1)))
    return float(np.mean(recalls)), float(np.median(seconds) * 1000)


def exact_top(ids: list[str], sims, candidates=None) -> dict[str, float]:
    """Chunks at least as similar as the exact 10th best (of `candidates`, default all)."""
    import numpy as np

    pool = np.arange(len(ids)) if candidates is None else candidates
    if not len(pool):
        return {}
    order = pool[np.argsort(-sims[pool])]
    tenth = sims[order[min(9, len(order) - 1)]]
    return {ids[i]: float(sims[i]) for i in order if sims[i] >= tenth - 1e-5}


def cmd_hnsw(args) -> None:
    import chromadb
    import numpy as np

    from qa.features import date_window_filters
    from qa.retrieve import HybridParams

    store, _, embeddings = open_store(args, with_index=False)
    questions = load_questions(args.data)
    queries = np.asarray([embeddings.embed_query(q["question"]) for q in questions], np.float32)
    embeddings.save()
    ids, vectors, stamps = all_embeddings(store.collection)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = queries @ vectors.T
    exact = [exact_top(ids, row) for row in sims]
    # The date-window searches the hybrid retriever makes: exact search inside the window.
    windows, exact_window = [], []
    for q, row in zip(questions, sims, strict=True):
        f = date_window_filters(None, q["question_date"], HybridParams().date_window)
        windows.append(f.to_where())
        lo, hi = (
            f.to_where()["$and"][0]["published_ts"]["$gte"],
            f.to_where()["$and"][1]["published_ts"]["$lte"],
        )
        inside = np.flatnonzero((stamps >= lo) & (stamps <= hi))
        exact_window.append(exact_top(ids, row, inside))
    lines = [
        f"{len(ids):,} chunks, {len(questions)} questions; recall@10 against exact "
        "(numpy) cosine search; p50 query ms.",
        "",
        "| ef_construction | max_neighbors | build s | ef_search | recall@10 | ms "
        "| recall@10 in the date window | ms |",
        "|" + " --- |" * 8,
    ]
    s = store.settings
    r, ms = recall_at_10(store.collection, queries, exact)
    rw, msw = recall_at_10(store.collection, queries, exact_window, windows)
    lines.append(
        f"| {s.hnsw_ef_construction} | {s.hnsw_max_neighbors} | (the store) "
        f"| {s.hnsw_ef_search} | {r:.4f} | {ms:.1f} | {rw:.4f} | {msw:.1f} |"
    )
    print(lines[-1], flush=True)
    client = chromadb.PersistentClient(path=str(args.work / "hnsw"))
    for ef_c, m in HNSW_BUILDS:
        name = f"c{ef_c}m{m}"
        with contextlib.suppress(Exception):  # left by an earlier, interrupted run
            client.delete_collection(name)
        coll = client.create_collection(
            name,
            configuration={
                "hnsw": {
                    "space": "cosine",
                    "ef_construction": ef_c,
                    "max_neighbors": m,
                    "ef_search": 10,
                }
            },
        )
        start = time.perf_counter()
        for i in range(0, len(ids), 5000):
            coll.add(
                ids=ids[i : i + 5000],
                embeddings=vectors[i : i + 5000],
                metadatas=[{"published_ts": int(t)} for t in stamps[i : i + 5000]],
            )
        build = time.perf_counter() - start
        for ef in EF_SEARCH:
            # A loaded index keeps its ef_search until the collection is opened again.
            coll.modify(configuration={"hnsw": {"ef_search": ef}})
            del coll, client
            chromadb.api.client.SharedSystemClient.clear_system_cache()
            client = chromadb.PersistentClient(path=str(args.work / "hnsw"))
            coll = client.get_collection(name)
            assert coll.configuration["hnsw"]["ef_search"] == ef, coll.configuration
            r, ms = recall_at_10(coll, queries, exact)
            rw, msw = recall_at_10(coll, queries, exact_window, windows)
            lines.append(
                f"| {ef_c} | {m} | {build:.0f} | {ef} | {r:.4f} | {ms:.1f} | {rw:.4f} | {msw:.1f} |"
            )
            print(lines[-1], flush=True)
        client.delete_collection(name)
    table = "\n".join(lines) + "\n"
    print(table)
    (args.work / "hnsw_table.md").write_text(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=DEFAULT_WORK,
        help="folder of the store and caches (default: %(default)s)",
    )
    parser.add_argument("--data", type=Path, default=DATA)
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("ingest", help="embed the whole corpus (resumable)")
    p.add_argument("--sample-chunks", type=int, default=500)
    p.add_argument("--progress", action="store_true")
    p.set_defaults(func=cmd_ingest)
    sub.add_parser("index", help="open and repair the keyword index").set_defaults(func=cmd_index)
    sub.add_parser("cache", help="cache candidates").set_defaults(func=cmd_cache)
    sub.add_parser("tune", help="grid-search the weights").set_defaults(func=cmd_tune)
    sub.add_parser("hnsw", help="HNSW recall vs exact").set_defaults(func=cmd_hnsw)
    p = sub.add_parser("maxsim", help="try MiniLM sentence max-sim on the top 10")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(func=cmd_maxsim)
    p = sub.add_parser("run", help="the table")
    p.add_argument("--limit", type=int, default=0, help="only the first N questions")
    p.add_argument("--write", action="store_true", help="update docs/retrieval.md")
    p.set_defaults(func=cmd_run)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
