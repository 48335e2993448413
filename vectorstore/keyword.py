"""A BM25 keyword index beside the Chroma collection, kept in step with it as a store listener.

bm25s indexes are static (scores are computed when the index is built), so the index is a
*main* bm25s segment plus a small *tail* of recent changes:
- `upsert`/`delete` append to a write-ahead log (`wal-<gen>.jsonl`, fsynced) and update the tail
  in memory: new chunks go to the tail, replaced or deleted main chunks become tombstones;
- queries score the main segment with bm25s (tombstones and filters as its weight mask) and the
  tail with the same BM25 formula in numpy; nothing is rebuilt per query;
- when the tail and tombstones outgrow `compact_ratio` of the main segment, the main segment is
  rebuilt from the stored token ids (no re-tokenising) into `main-<gen+1>/`, and `manifest.json`
  is switched to it atomically (temp file + os.replace). Rebuilds grow geometrically, so their
  total cost stays a small multiple of one build.
A crash leaves the old generation with its log, or the new one: both readable. A torn last log
line is cut off; a failed log write (disk full) is undone; a failed automatic compaction keeps
the current generation. Chroma is the record: `sync(store)` repairs the index from the collection
when their chunk ids or fingerprints differ, and an index that cannot be read at all is rebuilt
from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
import unicodedata
import warnings
from collections.abc import Iterable
from pathlib import Path

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from .changes import StoredChunk
from .types import Filters, date_to_timestamp

_TOKEN = re.compile(r"\w+")
_STOP = frozenset(STOPWORDS_EN) | {"s", "t", "this", "week", "what", "which", "who", "its"}
# The article fingerprint lets sync() see a chunk whose text changed under the same id.
_META_KEYS = ("article_id", "source", "published_ts", "fingerprint")


def tokenize(text: str) -> list[str]:
    """Lower-case words without accents or stop words, plurals folded ("banks" -> "bank")."""
    text = text.lower()
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    words = _TOKEN.findall(text)
    return [_stem(w) for w in words if w not in _STOP and (len(w) > 1 or w.isdigit())]


def _stem(word: str) -> str:
    """A light English stemmer: possessives and plurals only, so names stay recognisable."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _doc_text(text: str, metadata: dict) -> str:
    title = metadata.get("title") or ""
    return f"{title}\n{text}" if title else text


class KeywordIndex:
    """BM25 over chunk texts (title + text), persisted in `path`, updated by upsert/delete."""

    def __init__(
        self,
        path: Path | str,
        *,
        k1: float = 1.5,
        b: float = 0.75,
        compact_ratio: float = 0.25,
        compact_min: int = 2000,
    ) -> None:
        self.path = Path(path)
        self.k1, self.b = k1, b
        self.compact_ratio, self.compact_min = compact_ratio, compact_min
        self._lock = threading.RLock()
        self._compact_at = 0  # after a failed compaction, wait for this many pending changes
        for attempt in range(2):
            try:
                self._load()
                break
            except (OSError, ValueError, KeyError, TypeError) as exc:
                if attempt == 0:  # another process may have switched generations meanwhile
                    continue
                # A damaged disk or a foreign file (a crash leaves a readable index): the
                # index is derived data, so start empty and let sync() refill it from Chroma.
                warnings.warn(
                    f"keyword index in {self.path} is unreadable ({exc}); rebuilding "
                    "it from the collection",
                    stacklevel=2,
                )
                shutil.rmtree(self.path, ignore_errors=True)
                self._load()

    @classmethod
    def for_store(cls, settings, **kwargs) -> KeywordIndex:
        """The index that belongs to a store's settings: `<store path>/keyword`."""
        return cls(Path(settings.path) / "keyword", **kwargs)

    # --- state -----------------------------------------------------------------------------
    def _reset_main(self) -> None:
        self.main_ids: list[str] = []
        self.main_pos: dict[str, int] = {}
        self.main_tokens = np.zeros(0, np.int32)
        self.main_offsets = np.zeros(1, np.int64)
        self.main_meta: list[dict] = []
        self.main_df = np.zeros(0, np.int64)
        self.bm25: bm25s.BM25 | None = None
        self.alive = np.zeros(0, np.float32)
        self._main_columns: tuple[np.ndarray, np.ndarray] | None = None

    def _reset_tail(self) -> None:
        self.tail: dict[str, tuple[np.ndarray, np.ndarray, int, dict]] = {}
        self._tail_matrix = None

    def _load(self) -> None:
        self.vocab, self.generation = {}, 0
        self._reset_main()
        self._reset_tail()
        manifest = self.path / "manifest.json"
        if manifest.exists():
            self.generation = json.loads(manifest.read_text())["generation"]
            self._load_main(self.path / f"main-{self.generation}")
        self._remove_stale_files()  # left by a crash during a compaction
        self._replay(self.path / f"wal-{self.generation}.jsonl")

    def _load_main(self, folder: Path) -> None:
        self.vocab = json.loads((folder / "vocab.json").read_text())
        docs = json.loads((folder / "docs.json").read_text())
        self.main_ids, self.main_meta = docs["ids"], docs["meta"]
        self.main_pos = {i: n for n, i in enumerate(self.main_ids)}
        self.main_tokens = np.load(folder / "tokens.npy")
        self.main_offsets = np.load(folder / "offsets.npy")
        self.main_df = np.load(folder / "df.npy")
        self.bm25 = bm25s.BM25(k1=self.k1, b=self.b)
        self.bm25.scores = {
            "data": np.load(folder / "data.npy"),
            "indices": np.load(folder / "indices.npy"),
            "indptr": np.load(folder / "indptr.npy"),
            "num_docs": len(self.main_ids),
        }
        self.bm25.vocab_dict = self.vocab
        self.bm25.nonoccurrence_array = None
        self.alive = np.ones(len(self.main_ids), np.float32)

    def _replay(self, wal: Path) -> None:
        if not wal.exists():
            return
        good = 0
        with wal.open("rb") as f:
            for line in f:
                if not line.endswith(b"\n"):  # torn: the next append would glue onto it
                    break
                try:
                    op = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    break
                good += len(line)
                if op["op"] == "upsert":
                    self._add(op["id"], op["tokens"], op["meta"])
                else:
                    self._remove(op["ids"])
        if good < wal.stat().st_size:  # a torn last write from a crash: cut it; sync() repairs
            os.truncate(wal, good)
        self._build_tail()

    def _remove_stale_files(self) -> None:
        keep = {f"main-{self.generation}", f"wal-{self.generation}.jsonl", "manifest.json"}
        for child in self.path.iterdir() if self.path.exists() else ():
            if child.name not in keep:
                shutil.rmtree(child) if child.is_dir() else child.unlink(missing_ok=True)

    # --- updates (the NewsStore listener interface) -----------------------------------------
    def upsert(self, chunks: Iterable) -> None:
        """Add or replace chunks (objects with id, text, metadata)."""
        rows = [
            (
                c.id,
                tokenize(_doc_text(c.text, c.metadata)),
                {k: c.metadata.get(k) for k in _META_KEYS},
            )
            for c in chunks
        ]
        if not rows:
            return
        with self._lock:
            self._log([{"op": "upsert", "id": i, "tokens": t, "meta": m} for i, t, m in rows])
            for i, t, m in rows:
                self._add(i, t, m)
            self._after_change()

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if not ids:
            return
        with self._lock:
            self._log([{"op": "delete", "ids": ids}])
            self._remove(ids)
            self._after_change()

    def _add(self, chunk_id: str, tokens: list[str], meta: dict) -> None:
        self._remove([chunk_id])
        ids = np.fromiter(
            (self.vocab.setdefault(t, len(self.vocab)) for t in tokens), np.int64, count=len(tokens)
        )
        terms, counts = np.unique(ids, return_counts=True)
        self.tail[chunk_id] = (terms, counts.astype(np.float32), len(tokens), meta)

    def _remove(self, ids: Iterable[str]) -> None:
        for chunk_id in ids:
            self.tail.pop(chunk_id, None)
            n = self.main_pos.get(chunk_id)
            if n is not None:
                self.alive[n] = 0.0

    def _log(self, ops: list[dict]) -> None:
        """Append ops to the log, all or nothing: a failed write (disk full) is cut off again."""
        self.path.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(op, ensure_ascii=False) + "\n" for op in ops).encode("utf-8")
        fd = os.open(
            self.path / f"wal-{self.generation}.jsonl",
            os.O_WRONLY | os.O_APPEND | os.O_CREAT,
            0o644,
        )
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)

    def _after_change(self) -> None:
        self._tail_matrix = None
        pending = len(self.tail) + int(len(self.main_ids) - self.alive.sum())
        if pending > max(
            self.compact_min, self.compact_ratio * len(self.main_ids), self._compact_at
        ):
            try:
                self.compact()
                return
            except OSError as exc:  # e.g. disk full: the log still holds every change
                self._compact_at = 2 * pending
                warnings.warn(
                    f"keyword index compaction in {self.path} failed ({exc}); "
                    "it keeps working from its log",
                    stacklevel=3,
                )
        self._build_tail()

    # --- compaction ------------------------------------------------------------------------
    def compact(self) -> None:
        """Rebuild the main segment from live main chunks + the tail; switch to it atomically."""
        with self._lock:
            start, end = self.main_offsets[:-1], self.main_offsets[1:]
            docs = [
                (self.main_ids[n], self.main_tokens[start[n] : end[n]], self.main_meta[n])
                for n in np.flatnonzero(self.alive)
            ]
            docs += [
                (i, np.repeat(terms, counts.astype(np.int64)), meta)
                for i, (terms, counts, _, meta) in self.tail.items()
            ]
            gen = self.generation + 1
            folder = self.path / f"main-{gen}"
            tmp = self.path / f".main-{gen}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            tokens = [d[1].astype(np.int32) for d in docs]
            lengths = np.array([len(t) for t in tokens], np.int64)
            scores = (
                bm25s.BM25(k1=self.k1, b=self.b).build_index_from_ids(
                    list(range(len(self.vocab))), tokens, show_progress=False
                )
                if docs
                else {
                    "data": np.zeros(0, np.float32),
                    "indices": np.zeros(0, np.int32),
                    "indptr": np.zeros(len(self.vocab) + 1, np.int32),
                    "num_docs": 0,
                }
            )
            df = np.diff(scores["indptr"]).astype(np.int64)
            arrays = {
                "tokens": np.concatenate(tokens) if tokens else np.zeros(0, np.int32),
                "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                "df": df,
                "data": scores["data"],
                "indices": scores["indices"],
                "indptr": scores["indptr"],
            }
            try:
                for name, array in arrays.items():
                    np.save(tmp / f"{name}.npy", array)
                (tmp / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False))
                (tmp / "docs.json").write_text(
                    json.dumps(
                        {"ids": [d[0] for d in docs], "meta": [d[2] for d in docs]},
                        ensure_ascii=False,
                    )
                )
                for child in tmp.iterdir():
                    _fsync_file(child)
                _fsync_dir(tmp)
                shutil.rmtree(folder, ignore_errors=True)
                os.replace(tmp, folder)
                _atomic_write(self.path / "manifest.json", json.dumps({"generation": gen}))
            except BaseException:
                # Not switched: the current generation and its log stay the index.
                shutil.rmtree(tmp, ignore_errors=True)
                shutil.rmtree(folder, ignore_errors=True)
                raise
            self._compact_at = 0
            old = self.generation
            self.generation = gen
            shutil.rmtree(self.path / f"main-{old}", ignore_errors=True)
            (self.path / f"wal-{old}.jsonl").unlink(missing_ok=True)
            self._reset_main()
            self._reset_tail()
            self._load_main(folder)

    # --- queries ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.alive.sum()) + len(self.tail)

    def ids(self) -> set[str]:
        return set(self.fingerprints())

    def fingerprints(self) -> dict[str, str | None]:
        """Each indexed chunk id -> the fingerprint of the article text it was indexed from."""
        with self._lock:
            live = {
                self.main_ids[n]: self.main_meta[n].get("fingerprint")
                for n in np.flatnonzero(self.alive)
            }
            return live | {i: row[3].get("fingerprint") for i, row in self.tail.items()}

    def idf(self, words: list[str]) -> list[float]:
        """Each word's BM25 idf over the indexed chunks: rare words weigh most (a word the index
        has never seen gets the idf of a word in no chunk; a stop word gets 0)."""
        with self._lock:
            n_docs = len(self)
            out = []
            for word in words:
                terms = [self.vocab.get(t) for t in tokenize(word)]
                if not terms:
                    out.append(0.0)
                    continue
                df = 0
                if terms[0] is not None:
                    t = terms[0]
                    df = int(self.main_df[t]) if t < len(self.main_df) else 0
                    df += sum(1 for v in self.tail.values() if t in v[0])
                out.append(float(np.log(1 + (n_docs - df + 0.5) / (df + 0.5))))
            return out

    def search(
        self, query: str, k: int = 10, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """The k best chunk ids for the query with their BM25 scores, best first."""
        terms = [self.vocab[t] for t in tokenize(query) if t in self.vocab]
        if not terms or k <= 0:
            return []
        with self._lock:
            found: list[tuple[str, float]] = []
            if self.bm25 is not None and len(self.main_ids):
                mask = self.alive * self._filter_mask(self.main_meta, filters, main=True)
                main_terms = [t for t in terms if t < len(self.main_df)]
                if main_terms:
                    scores = self.bm25.get_scores_from_ids(main_terms, weight_mask=mask)
                    found += [(self.main_ids[n], float(scores[n])) for n in _top(scores, k)]
            if self.tail:
                tail_ids, scores = self._score_tail(terms, filters)
                found += [(tail_ids[n], float(scores[n])) for n in _top(scores, k)]
        found.sort(key=lambda x: -x[1])
        return found[:k]

    def _build_tail(self) -> None:
        from scipy.sparse import csc_matrix

        ids = list(self.tail)
        if not ids:
            self._tail_matrix = None
            return
        rows = np.concatenate([np.full(len(self.tail[i][0]), n) for n, i in enumerate(ids)])
        cols = np.concatenate([self.tail[i][0] for i in ids])
        data = np.concatenate([self.tail[i][1] for i in ids])
        matrix = csc_matrix((data, (rows, cols)), shape=(len(ids), len(self.vocab)))
        lengths = np.array([self.tail[i][2] for i in ids], np.float32)
        metas = [self.tail[i][3] for i in ids]
        self._tail_matrix = (ids, matrix, lengths, metas)

    def _score_tail(
        self, terms: list[int], filters: Filters | None
    ) -> tuple[list[str], np.ndarray]:
        """BM25 (the bm25s Lucene formula) over the tail, with df and lengths of main + tail."""
        if self._tail_matrix is None:
            self._build_tail()
        ids, matrix, lengths, metas = self._tail_matrix
        n_main = int(self.alive.sum())
        n_docs = n_main + len(ids)
        main_len = float(np.diff(self.main_offsets)[self.alive > 0].sum()) if n_main else 0.0
        avgdl = (main_len + lengths.sum()) / max(n_docs, 1)
        scores = np.zeros(len(ids), np.float32)
        norm = self.k1 * ((1 - self.b) + self.b * lengths / max(avgdl, 1e-9))
        for t in terms:
            col = matrix.getcol(t).toarray().ravel() if t < matrix.shape[1] else None
            if col is None or not col.any():
                continue
            df = (self.main_df[t] if t < len(self.main_df) else 0) + np.count_nonzero(col)
            idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5))
            scores += idf * col / (norm + col)
        return ids, scores * self._filter_mask(metas, filters)

    def _filter_mask(
        self, metas: list[dict], filters: Filters | None, main: bool = False
    ) -> np.ndarray | float:
        """1.0 where `filters.accepts` the chunk's metadata, else 0.0."""
        if filters is None or (
            not filters.sources and not filters.date_from and not filters.date_to
        ):
            return 1.0
        if main:  # the main segment's columns are built once per generation
            if self._main_columns is None:
                self._main_columns = _columns(metas)
            sources, ts = self._main_columns
        else:
            sources, ts = _columns(metas)
        mask = np.ones(len(metas), bool)
        if filters.sources:
            mask &= np.isin(sources, list(filters.sources))
        with np.errstate(invalid="ignore"):
            if filters.date_from:
                mask &= ts >= date_to_timestamp(filters.date_from)
            if filters.date_to:
                mask &= ts <= date_to_timestamp(filters.date_to)
        return mask.astype(np.float32)

    # --- consistency with Chroma -----------------------------------------------------------
    def sync(self, store, page: int = 5000) -> dict[str, int]:
        """Make the index hold exactly the collection's chunks: add the missing, drop the extra,
        and re-index any chunk whose article fingerprint differs from the collection's (its text
        changed while this index missed the write: another process, or a crash in between)."""
        stored: dict[str, str | None] = {}
        offset = 0
        while True:
            got = store.collection.get(include=["metadatas"], limit=page, offset=offset)
            if not got["ids"]:
                break
            for i, meta in zip(got["ids"], got["metadatas"], strict=True):
                stored[i] = (meta or {}).get("fingerprint")
            offset += len(got["ids"])
        mine = self.fingerprints()
        extra = sorted(set(mine) - set(stored))
        missing = sorted(i for i in stored if i not in mine)
        stale = sorted(i for i, f in stored.items() if i in mine and mine[i] != f)
        if extra:
            self.delete(extra)
        renew = missing + stale  # upsert replaces a stale chunk's words
        for i in range(0, len(renew), page):
            docs = store.get(renew[i : i + page])
            self.upsert(StoredChunk(d.id, d.page_content, d.metadata) for d in docs)
        return {"added": len(missing), "removed": len(extra), "refreshed": len(stale)}


def _columns(metas: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Sources and publication timestamps (NaN when unknown) as arrays, for filter masks."""
    sources = np.array([m.get("source") or "" for m in metas], dtype=object)
    ts = np.array(
        [np.nan if m.get("published_ts") is None else m["published_ts"] for m in metas],
        dtype=np.float64,
    )
    return sources, ts


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest positive scores, best first."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
    return positive[np.argsort(-scores[positive], kind="stable")]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # renamed already: only power-loss durability is at stake
        _fsync_dir(path.parent)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
