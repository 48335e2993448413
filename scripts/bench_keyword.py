"""Keyword-search backends on realtimeqa-dev: the project's KeywordIndex, tantivy and SQLite FTS5.

Quality, on the 951 answerable questions over the whole corpus (44,022 chunks): hit@1/5/10 and
mrr@10 by evidence article over the distinct articles of the 60 best chunks (the definitions and
helpers of bench_retrieval.py), for the plain search and for the search restricted to the
question's week (`date_window_filters` with the default window), which the hybrid retriever also
makes. Costs, at the corpus size and at 100,000 chunks (the corpus chunks again under new ids,
each copy with 10% of its words dropped at random): build time (tokenising included), index size
on disk, open time, query latency p50/p95 over the questions (plain and week), adding 1,000 new
chunks and deleting 1,000 others, making that visible (commit, reader reload) and the next query,
and peak RSS above the process's size once the chunks are loaded. Each backend and size runs in
its own process so that its peak memory is its own. Every backend indexes title + text per chunk,
as `vectorstore.keyword._doc_text` does.

Backends:
  product      the project's KeywordIndex (tantivy since issue 12; the bench's `tantivy` backend
               is what it was built from), built as `sync` builds it (pages of 5,000 sorted ids)
  tantivy      tantivy 0.27 with the project's tokens (`tokenize()` joined by spaces into a field
               with the whitespace tokenizer), so only the scoring differs; BM25 k1 1.2, b 0.75
               are constants in tantivy (no setting in its Python bindings)
  tantivy-en   tantivy's own English analyzer over title + text (simple tokenizer, remove_long 40,
               lowercase, Snowball English stemmer: its `en_stem`, no stop words)
  fts5         SQLite FTS5 `bm25()` with the project's tokens (unicode61 with `_` as a token
               character, so it splits them no further); k1 1.2, b 0.75 are constants there too
  fts5-porter  FTS5's `porter unicode61` tokenizer over title + text
`visibility` checks whether a write committed by one process is seen by a reader another process
holds open, and what a second writer gets. The bm25s rows of docs/retrieval.md (the index before
tantivy, and its k1 x b grid) were measured with this script at commit 9cc702e, which still has
those backends.

  nice -n 10 .venv/bin/python scripts/bench_keyword.py all --write
  .venv/bin/python scripts/bench_keyword.py run fts5 --size 100000   # one backend, JSON out
  .venv/bin/python scripts/bench_keyword.py visibility

`all` took 34 minutes on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_retrieval  # noqa: E402  (metrics and loaders shared with the retrieval benchmark)

DATA = bench_retrieval.DATA
DEPTH = 60  # chunks per query, as bench_retrieval's bm25 row
BACKENDS = ["product", "tantivy", "tantivy-en", "fts5", "fts5-porter"]
UPDATE = 1000
MARKER = "zqxvmarker"


# --- data ----------------------------------------------------------------------------------
def corpus_chunks(data: Path):
    """The corpus cut as NewsStore cuts it (the default chunk settings)."""
    from vectorstore.config import StoreSettings
    from vectorstore.ingest.chunk import chunk_article

    settings = StoreSettings(path=Path(tempfile.gettempdir()) / "unused")
    chunks = []
    for article in bench_retrieval.load_articles(data / "articles.jsonl"):
        chunks += chunk_article(article, settings.chunk_size, settings.chunk_overlap)
    return chunks


def copies(chunks, n: int, tag: str, seed: int):
    """`n` chunks copied from `chunks` under new article ids, each dropping 10% of its words."""
    from vectorstore.types import Chunk

    rng = random.Random(seed)
    out = []
    for i in range(n):
        c = chunks[i % len(chunks)]
        round_ = i // len(chunks) + 1
        article, part = c.id.rsplit(":", 1)
        words = [w for w in c.text.split(" ") if rng.random() >= 0.1]
        meta = dict(c.metadata, article_id=f"{article}~{tag}{round_}")
        text = " ".join(words)
        out.append(
            Chunk(id=f"{article}~{tag}{round_}:{part}", text=text, embed_text=text, metadata=meta)
        )
    return out


def week_filters(question: dict):
    from qa.features import date_window_filters
    from qa.retrieve import HybridParams

    return date_window_filters(None, question.get("question_date"), HybridParams().date_window)


def _bounds(filters):
    from vectorstore.types import date_to_timestamp

    if filters is None:
        return None, None, None
    lo = date_to_timestamp(filters.date_from) if filters.date_from else None
    hi = date_to_timestamp(filters.date_to) if filters.date_to else None
    return lo, hi, list(filters.sources or [])


def _maxrss_mb() -> float:
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", text).group(1)) / 1024


def _rss_mb() -> float:
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024


def _du_mb(path: Path) -> float:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0
    if path.is_file():
        total = path.stat().st_size
    for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        total += extra.stat().st_size if extra.exists() else 0
    return total / 2**20


# --- backends -------------------------------------------------------------------------------
# Each: build(chunks), search(text, k, filters) -> chunk ids, add(chunks), delete(ids),
# publish() (make the writes durable and visible to this process's searches), reopen().
class Product:
    """The project's KeywordIndex: every add and delete is its own commit, already visible."""

    def __init__(self, path: Path):
        self.path = path

    def build(self, chunks) -> None:
        from vectorstore.keyword import KeywordIndex

        self.index = KeywordIndex(self.path)
        ordered = sorted(chunks, key=lambda c: c.id)
        for i in range(0, len(ordered), 5000):  # as KeywordIndex.sync feeds it
            self.index.upsert(ordered[i : i + 5000])

    def search(self, text, k, filters=None):
        return [i for i, _ in self.index.search(text, k, filters)]

    def add(self, chunks) -> None:
        self.index.upsert(chunks)

    def delete(self, ids) -> None:
        self.index.delete(ids)

    def publish(self) -> None:  # each upsert/delete has committed and reloaded already
        pass

    def reopen(self) -> None:
        from vectorstore.keyword import KeywordIndex

        self.index = KeywordIndex(self.path)

    def stats(self) -> dict:
        return {"chunks": len(self.index)}


def _tantivy():
    try:
        import tantivy
    except ImportError:
        raise SystemExit("tantivy is not installed: make setup") from None
    return tantivy


class Tantivy:
    def __init__(self, path: Path, own_tokens: bool = True):
        self.t = _tantivy()
        self.path, self.own = path, own_tokens
        t = self.t
        self.analyzer = (
            t.TextAnalyzerBuilder(t.Tokenizer.simple())
            .filter(t.Filter.remove_long(40))
            .filter(t.Filter.lowercase())
            .filter(t.Filter.stemmer("english"))
            .build()
        )
        sb = t.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
        sb.add_text_field(
            "body", tokenizer_name="words" if own_tokens else "en_stem", index_option="freq"
        )
        sb.add_integer_field("ts", indexed=True, fast=True)
        sb.add_text_field("source", tokenizer_name="raw", index_option="basic")
        self.schema = sb.build()
        self.writer = None

    def _open(self) -> None:
        t = self.t
        self.path.mkdir(parents=True, exist_ok=True)
        self.idx = t.Index(self.schema, path=str(self.path), reuse=True)
        self.idx.register_tokenizer(
            "words", t.TextAnalyzerBuilder(t.Tokenizer.whitespace()).build()
        )

    def _doc(self, c):
        from vectorstore.keyword import _doc_text, tokenize

        text = _doc_text(c.text, c.metadata)
        doc = self.t.Document()
        doc.add_text("id", c.id)
        doc.add_text("body", " ".join(tokenize(text)) if self.own else text)
        if c.metadata.get("published_ts") is not None:
            doc.add_integer("ts", int(c.metadata["published_ts"]))
        doc.add_text("source", c.metadata.get("source") or "")
        return doc

    def build(self, chunks) -> None:
        self._open()
        writer = self.idx.writer()
        for c in chunks:
            writer.add_document(self._doc(c))
        writer.commit()
        writer.wait_merging_threads()  # the merges it started, so the index measured is settled
        self.idx.reload()

    def search(self, text, k, filters=None):
        from vectorstore.keyword import tokenize

        t = self.t
        words = tokenize(text) if self.own else self.analyzer.analyze(text)
        if not words:
            return []
        query = t.Query.boolean_query(
            [(t.Occur.Should, t.Query.term_query(self.schema, "body", w, "freq")) for w in words]
        )
        lo, hi, sources = _bounds(filters)
        if lo is not None or hi is not None or sources:
            clauses = [(t.Occur.Must, query)]
            if lo is not None or hi is not None:
                rng = t.Query.range_query(self.schema, "ts", t.FieldType.Integer, lo, hi)
                clauses.append((t.Occur.Must, t.Query.const_score_query(rng, 0.0)))
            if sources:
                terms = t.Query.term_set_query(self.schema, "source", sources)
                clauses.append((t.Occur.Must, t.Query.const_score_query(terms, 0.0)))
            query = t.Query.boolean_query(clauses)
        searcher = self.idx.searcher()
        return [searcher.doc(a)["id"][0] for _, a in searcher.search(query, k, count=False).hits]

    def _writer(self):
        if self.writer is None:
            self.writer = self.idx.writer()
        return self.writer

    def add(self, chunks) -> None:
        w = self._writer()
        for c in chunks:
            w.delete_documents_by_term("id", c.id)  # an upsert: the old copy goes
            w.add_document(self._doc(c))

    def delete(self, ids) -> None:
        w = self._writer()
        for i in ids:
            w.delete_documents_by_term("id", i)

    def publish(self) -> None:
        self._writer().commit()
        self.idx.reload()

    def reopen(self) -> None:
        if self.writer is not None:
            self.writer.wait_merging_threads()
            self.writer = None
        self._open()

    def stats(self) -> dict:
        return {"segments": self.idx.searcher().num_segments}


class Fts5:
    def __init__(self, path: Path, own_tokens: bool = True):
        self.path, self.own = path, own_tokens
        self.tokenizer = (
            "unicode61 remove_diacritics 0 tokenchars '_'"
            if own_tokens
            else "porter unicode61 remove_diacritics 2"
        )

    def _connect(self):
        con = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")  # each commit fsynced, as KeywordIndex's log
        return con

    def build(self, chunks) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = self._connect()
        self.con.executescript(
            "CREATE TABLE chunks (rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, "
            "ts INTEGER, source TEXT);"
            "CREATE INDEX chunks_ts ON chunks(ts);"
            f'CREATE VIRTUAL TABLE fts USING fts5(body, tokenize="{self.tokenizer}");'
        )
        self.con.execute("BEGIN")
        self.add(chunks)
        self.con.execute("COMMIT")
        self.con.execute("INSERT INTO fts(fts) VALUES ('optimize')")

    def _body(self, c) -> str:
        from vectorstore.keyword import _doc_text, tokenize

        text = _doc_text(c.text, c.metadata)
        return " ".join(tokenize(text)) if self.own else text

    def _match(self, text: str) -> str:
        from vectorstore.keyword import tokenize

        words = tokenize(text) if self.own else re.findall(r"\w+", text)
        return " OR ".join(f'"{w}"' for w in words)

    def search(self, text, k, filters=None):
        match = self._match(text)
        if not match:
            return []
        sql = "SELECT c.id FROM fts JOIN chunks c ON c.rowid = fts.rowid WHERE fts MATCH ?"
        params: list = [match]
        lo, hi, sources = _bounds(filters)
        if lo is not None:
            sql, params = sql + " AND c.ts >= ?", params + [lo]
        if hi is not None:
            sql, params = sql + " AND c.ts <= ?", params + [hi]
        if sources:
            sql += f" AND c.source IN ({','.join('?' * len(sources))})"
            params += sources
        sql += " ORDER BY bm25(fts) LIMIT ?"
        return [r[0] for r in self.con.execute(sql, params + [k])]

    def add(self, chunks) -> None:
        own = not self.con.in_transaction
        if own:
            self.con.execute("BEGIN")
        self.delete([c.id for c in chunks])
        for c in chunks:
            cur = self.con.execute(
                "INSERT INTO chunks (id, ts, source) VALUES (?, ?, ?)",
                (c.id, c.metadata.get("published_ts"), c.metadata.get("source") or ""),
            )
            self.con.execute(
                "INSERT INTO fts (rowid, body) VALUES (?, ?)", (cur.lastrowid, self._body(c))
            )
        if own:
            self.con.execute("COMMIT")

    def delete(self, ids) -> None:
        own = not self.con.in_transaction
        if own:
            self.con.execute("BEGIN")
        for i in ids:
            row = self.con.execute("SELECT rowid FROM chunks WHERE id = ?", (i,)).fetchone()
            if row:
                self.con.execute("DELETE FROM fts WHERE rowid = ?", row)
                self.con.execute("DELETE FROM chunks WHERE rowid = ?", row)
        if own:
            self.con.execute("COMMIT")

    def begin(self) -> None:
        self.con.execute("BEGIN")

    def publish(self) -> None:
        if self.con.in_transaction:
            self.con.execute("COMMIT")

    def reopen(self) -> None:
        self.con.close()
        self.con = self._connect()

    def stats(self) -> dict:
        """Terms and token instances as FTS5 counts them (to compare with tokenize()'s)."""
        self.con.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_v USING fts5vocab(main, fts, 'row')"
        )
        terms, tokens = self.con.execute("SELECT count(*), sum(cnt) FROM temp.fts_v").fetchone()
        return {"terms": terms, "tokens": tokens}


def make(name: str, folder: Path):
    return {
        "product": lambda: Product(folder / "product"),
        "tantivy": lambda: Tantivy(folder / "tantivy"),
        "tantivy-en": lambda: Tantivy(folder / "tantivy", own_tokens=False),
        "fts5": lambda: Fts5(folder / "fts5.sqlite"),
        "fts5-porter": lambda: Fts5(folder / "fts5.sqlite", own_tokens=False),
    }[name]()


# --- measurements --------------------------------------------------------------------------
def _ms(seconds: list[float]) -> tuple[float, float]:
    import numpy as np

    ms = np.array(seconds) * 1000
    return round(float(np.percentile(ms, 50)), 2), round(float(np.percentile(ms, 95)), 2)


def quality_and_latency(backend, questions, week: bool = True, with_metrics: bool = True) -> dict:
    out: dict = {}
    for name, scoped in (("all", False), ("week", True)) if week else (("all", False),):
        ranked, seconds = [], []
        for n, q in enumerate(questions):
            filters = week_filters(q) if scoped else None
            start = time.perf_counter()
            ids = backend.search(q["question"], DEPTH, filters)
            seconds.append(time.perf_counter() - start)
            ranked.append(bench_retrieval.distinct_articles(ids))
            if n and n % 250 == 0:
                print(f"  {name}: {n}/{len(questions)} questions", file=sys.stderr, flush=True)
        p50, p95 = _ms(seconds)
        out[name] = {"p50_ms": p50, "p95_ms": p95}
        if with_metrics:
            m = bench_retrieval.metrics(ranked, questions)
            out[name].update({k: round(v, 4) for k, v in m.items()})
    return out


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return round((time.perf_counter() - start) * 1000, 1)


def cmd_run(args) -> dict:
    """One backend at one size in this process; one JSON line on stdout."""
    base = corpus_chunks(args.data)
    questions = bench_retrieval.load_questions(args.data)
    chunks = list(base)
    if args.size and args.size > len(base):
        chunks += copies(base, args.size - len(base), "r", seed=args.size)
    fresh = copies(base, UPDATE, "u", seed=7)  # the 1,000 chunks added after the build
    gone = random.Random(3).sample([c.id for c in chunks], UPDATE)
    measure_quality = len(chunks) == len(base)
    out: dict = {"backend": args.backend, "chunks": len(chunks)}
    out["rss_loaded_mb"] = round(_rss_mb())
    folder = Path(tempfile.mkdtemp(prefix=f"kw-{args.backend}-", dir=args.tmp))
    try:
        backend = make(args.backend, folder)
        print(f"{args.backend} {len(chunks):,} chunks: building", file=sys.stderr, flush=True)
        start = time.perf_counter()
        backend.build(chunks)
        out["build_s"] = round(time.perf_counter() - start, 1)
        out["stats"] = backend.stats()
        out["disk_mb"] = round(_du_mb(backend.path), 1)
        out["query"] = quality_and_latency(backend, questions, with_metrics=measure_quality)
        start = time.perf_counter()
        backend.reopen()
        out["open_s"] = round(time.perf_counter() - start, 3)
        backend.search(questions[0]["question"], DEPTH)  # warm after the reopen
        # 1,000 chunks in, 1,000 out, then what it takes for a query to see them.
        if isinstance(backend, Fts5):
            backend.begin()
        out["add_ms"] = _timed(lambda: backend.add(fresh))
        out["delete_ms"] = _timed(lambda: backend.delete(gone))
        out["publish_ms"] = _timed(backend.publish)
        q = questions[1]["question"]
        out["next_query_ms"] = _timed(lambda: backend.search(q, DEPTH))
        found = backend.search(fresh[0].text, DEPTH)
        out["update_visible"] = fresh[0].id in found and not (set(found) & set(gone))
        after = quality_and_latency(backend, questions[:300], week=False, with_metrics=False)
        out["after_update_p50_ms"] = after["all"]["p50_ms"]
        out["rss_peak_mb"] = round(_maxrss_mb())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(out), flush=True)
    return out


# --- another process's reader --------------------------------------------------------------
def _marker(tag: str):
    from vectorstore.types import Chunk

    text = f"{MARKER}{tag} written by the other process"
    return Chunk(id=f"marker-{tag}:0", text=text, embed_text=text, metadata={"title": ""})


def cmd_reader(args) -> None:
    """The other process: open a reader, wait for the parent's write, report what it sees."""
    path = Path(args.path)
    backend = make(args.backend, path.parent)
    if isinstance(backend, Product):
        backend.reopen()
    elif isinstance(backend, Tantivy):
        backend._open()
    else:
        backend.con = backend._connect()
    query = f"{MARKER}a"
    out = {"before": "marker-a:0" in backend.search(query, 5)}
    print("ready", flush=True)
    sys.stdin.readline()  # the parent has committed its write
    start = time.perf_counter()
    out["same_reader"] = "marker-a:0" in backend.search(query, 5)
    if isinstance(backend, Tantivy):  # the default reload policy: on commit, with a delay
        seen = out["same_reader"]
        while not seen and time.perf_counter() - start < 5:
            time.sleep(0.01)
            seen = "marker-a:0" in backend.search(query, 5)
        out["auto_reload_s"] = round(time.perf_counter() - start, 2) if seen else None
    if isinstance(backend, Product):
        backend.reopen()
    elif isinstance(backend, Tantivy):
        backend.idx.reload()
    out["after_reload"] = "marker-a:0" in backend.search(query, 5)
    try:  # a second writer while the parent's is still open
        if isinstance(backend, Fts5):
            backend.con.execute("PRAGMA busy_timeout = 2000")
        backend.add([_marker("b")])
        backend.publish()
        out["second_writer"] = "ok"
    except Exception as exc:  # noqa: BLE001  (reported, whatever it is)
        out["second_writer"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    print(json.dumps(out), flush=True)


def cmd_visibility(args) -> list[dict]:
    chunks = corpus_chunks(args.data)[:2000]
    rows = []
    for name in ("product", "tantivy", "fts5"):
        folder = Path(tempfile.mkdtemp(prefix=f"kw-vis-{name}-", dir=args.tmp))
        try:
            backend = make(name, folder)
            backend.build(chunks)
            if isinstance(backend, Tantivy):
                backend._writer()  # the writer this process keeps open, as a server would
            cmd = [
                sys.executable,
                __file__,
                "--data",
                str(args.data),
                "reader",
                name,
                str(backend.path),
            ]
            child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert child.stdout.readline().strip() == "ready"
            backend.add([_marker("a")])
            backend.publish()
            child.stdin.write("go\n")
            child.stdin.flush()
            line = child.stdout.readline()
            child.wait(timeout=60)
            row = {"backend": name, **json.loads(line)}
            if isinstance(backend, Fts5):
                backend.reopen()  # no-op for visibility: a new statement sees the other commit
            row["writer_sees_second"] = "marker-b:0" in backend.search(f"{MARKER}b", 5)
            rows.append(row)
            print(json.dumps(row), flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return rows


# --- all and the tables ----------------------------------------------------------------------
def _child(args, *step: str) -> list[dict]:
    cmd = [sys.executable, __file__, "--data", str(args.data)]
    cmd += ["--tmp", args.tmp] if args.tmp else []
    done = subprocess.run(cmd + list(step), stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{step} failed ({done.returncode})")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def cmd_all(args) -> None:
    work = args.out
    work.mkdir(parents=True, exist_ok=True)
    results = {"runs": [], "grid": [], "visibility": []}
    for size in (0, args.size):
        for name in args.backends:
            results["runs"] += _child(args, "run", name, "--size", str(size))
            print(json.dumps(results["runs"][-1]), flush=True)
            (work / "keyword_bench.json").write_text(json.dumps(results, indent=1))
    results["visibility"] = _child(args, "visibility")
    (work / "keyword_bench.json").write_text(json.dumps(results, indent=1))
    tables = render(results)
    print(tables)
    if args.write:
        write_doc(tables)


LABELS = {
    "bm25s": ("bm25s, compacted (KeywordIndex)", "project", "1.5, 0.75"),
    "bm25s-tail": ("bm25s, 82% main + 18% tail", "project", "1.5, 0.75"),
    "product": ("KeywordIndex (tantivy 0.27)", "project", "1.2, 0.75"),
    "tantivy": ("tantivy 0.27", "project", "1.2, 0.75"),
    "tantivy-en": ("tantivy 0.27", "en_stem", "1.2, 0.75"),
    "fts5": ("SQLite FTS5", "project", "1.2, 0.75"),
    "fts5-porter": ("SQLite FTS5", "porter", "1.2, 0.75"),
}


def _qrow(label, tokens, consts, q) -> str:
    a, w = q["all"], q["week"]
    return (
        f"| {label} | {tokens} | {consts} | {a['hit@1']:.3f} | {a['hit@5']:.3f} "
        f"| {a['hit@10']:.3f} | {a['mrr@10']:.3f} | {w['hit@5']:.3f} | {w['mrr@10']:.3f} |"
    )


def render(results: dict) -> str:
    runs = results["runs"]
    small = [r for r in runs if "hit@5" in r["query"]["all"]]
    n_chunks = small[0]["chunks"] if small else 0
    lines = [
        f"Quality: 951 questions, {n_chunks:,} chunks, the 60 best chunks per question; "
        '"week" = the same search restricted to the question\'s week (-1..7 days).',
        "",
        "| backend | tokens | k1, b | hit@1 | hit@5 | hit@10 | mrr@10 | week hit@5 | week mrr@10 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in small:
        label, tokens, consts = LABELS[r["backend"]]
        if "as_built" in r:
            lines.append(_qrow("bm25s, as `sync` builds it", tokens, consts, r["as_built"]))
        lines.append(_qrow(label, tokens, consts, r["query"]))
        if r["backend"] == "bm25s":
            for g in results.get("grid", []):
                if (g["k1"], g["b"]) == (1.2, 0.75):
                    q = {
                        s: {k.split("_", 1)[1]: v for k, v in g.items() if k.startswith(s)}
                        for s in ("all", "week")
                    }
                    lines.append(_qrow("bm25s, compacted", tokens, "1.2, 0.75", q))
    lines += [
        "",
        'Costs (ms unless marked; query columns p50 / p95 over the 951 questions; "+1,000 / '
        '-1,000": adding 1,000 new chunks, deleting 1,000 others, then making them visible '
        "(bm25s: nothing to do, every write is fsynced and live; tantivy: commit + reader "
        "reload; FTS5: COMMIT) and the first query after; peak RSS above the process with the "
        "chunks loaded):",
        "",
        "| backend | chunks | build s | disk MB | open s | query | week query | +1,000 "
        "| -1,000 | make visible | next query | p50 after | peak RSS MB |",
        "|" + " --- |" * 13,
    ]
    for r in runs:
        label, tokens, _ = LABELS[r["backend"]]
        q, w = r["query"]["all"], r["query"]["week"]
        lines.append(
            f"| {label} ({tokens}) | {r['chunks']:,} | {r['build_s']:.1f} | {r['disk_mb']:.0f} "
            f"| {r['open_s']:.2f} | {q['p50_ms']:.1f} / {q['p95_ms']:.1f} "
            f"| {w['p50_ms']:.1f} / {w['p95_ms']:.1f} | {r['add_ms']:.0f} | {r['delete_ms']:.0f} "
            f"| {r['publish_ms']:.0f} | {r['next_query_ms']:.1f} | {r['after_update_p50_ms']:.1f} "
            f"| {r['rss_peak_mb'] - r['rss_loaded_mb']:.0f} |"
        )
    grid = results.get("grid", [])
    if grid:
        bs = sorted({g["b"] for g in grid})
        lines += [
            "",
            "bm25s (compacted) over k1 x b, hit@5 / mrr@10 (week search in brackets):",
            "",
            "| k1 | " + " | ".join(f"b {b}" for b in bs) + " |",
            "|" + " --- |" * (len(bs) + 1),
        ]
        for k1 in sorted({g["k1"] for g in grid}):
            cells = []
            for b in bs:
                g = next(x for x in grid if (x["k1"], x["b"]) == (k1, b))
                cells.append(
                    f"{g['all_hit@5']:.3f} / {g['all_mrr@10']:.3f} "
                    f"({g['week_hit@5']:.3f} / {g['week_mrr@10']:.3f})"
                )
            lines.append(f"| {k1} | " + " | ".join(cells) + " |")
    vis = results.get("visibility", [])
    if vis:
        lines += [
            "",
            "A write committed by one process, and a reader another process opened before it:",
            "",
            "| backend | same open reader | after reload / reopen | tantivy auto-reload "
            "| second writer while the first is open |",
            "| --- | --- | --- | --- | --- |",
        ]
        for v in vis:
            auto = v.get("auto_reload_s")
            second = v["second_writer"]
            if "LockBusy" in second:
                second = "refused (LockBusy: tantivy's one-writer lock)"
            elif second == "ok":
                seen = "sees" if v.get("writer_sees_second") else "does not see"
                second = f"writes; the first process {seen} it"
            lines.append(
                f"| {v['backend']} | {'sees it' if v['same_reader'] else 'does not see it'} "
                f"| {'sees it' if v['after_reload'] else 'does not see it'} "
                f"| {'-' if 'auto_reload_s' not in v else (f'{auto} s' if auto else 'not in 5 s')} "
                f"| {second} |"
            )
    return "\n".join(lines) + "\n"


def write_doc(tables: str) -> None:
    doc = ROOT / "docs" / "retrieval.md"
    text = doc.read_text()
    head, rest = text.split("<!-- keyword-backends -->", 1)
    _, tail = rest.split("<!-- /keyword-backends -->", 1)
    doc.write_text(f"{head}<!-- keyword-backends -->\n{tables}<!-- /keyword-backends -->{tail}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="default: %(default)s")
    parser.add_argument("--tmp", default=None, help="folder for the temporary indexes")
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("run", help="one backend at one size (JSON on stdout)")
    p.add_argument("backend", choices=BACKENDS)
    p.add_argument("--size", type=int, default=0, help="chunks (0: the corpus as it is)")
    p.set_defaults(func=cmd_run)
    sub.add_parser("visibility", help="another process's reader").set_defaults(func=cmd_visibility)
    p = sub.add_parser("reader", help=argparse.SUPPRESS)
    p.add_argument("backend")
    p.add_argument("path")
    p.set_defaults(func=cmd_reader)
    p = sub.add_parser("all", help="everything, and the tables")
    p.add_argument("--size", type=int, default=100_000, help="the large size (chunks)")
    p.add_argument("--backends", nargs="+", default=BACKENDS, choices=BACKENDS)
    p.add_argument("--out", type=Path, default=Path("/tmp/newsqa-kw"), help="raw results")
    p.add_argument("--write", action="store_true", help="update docs/retrieval.md")
    p.set_defaults(func=cmd_all)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
