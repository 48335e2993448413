"""A BM25 keyword index beside the Chroma collection, kept in step with it as a store listener.

The index is a tantivy index in `path`: one document per chunk, holding
- `body`: the chunk's title + text as `tokenize()`'s words joined by spaces, in a field split
  on whitespace only, so the project decides the words and tantivy only scores them (BM25 with
  k1 1.2, b 0.75: constants in tantivy);
- `id`, `fingerprint` (the article's, so `sync` sees a chunk whose text changed under the same
  id), `source` and `ts` (the publication timestamp), so filters are tantivy queries.
Every `upsert` and `delete` is one commit: after a crash or a failed write (a full disk) the index
is its last commit, whole; the searcher is reloaded after each, so this process's next search
sees its own write. Each commit takes tantivy's writer lock for its duration only: several
indexes on one folder in one process may write in turn, and a second process is kept out by
`StoreLock` before it gets here. Chroma is the record: `sync(store)` repairs the index from the
collection when their chunk ids or fingerprints differ, and an index that cannot be read at all is
rebuilt from it.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import math
import re
import shutil
import threading
import time
import unicodedata
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import tantivy

from .changes import StoredChunk
from .disk import free_bytes, is_disk_full
from .errors import StoreError
from .types import Filters, date_to_timestamp

_TOKEN = re.compile(r"\w+")
# bm25s's English stop words (the list this index was tuned with), and a few quiz words.
_STOP = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with s t week what which who its".split()
)
_WRITER_HEAP = 32_000_000  # bytes; one indexing thread (the chunk batches are small)
_LOCK_WAIT = 2.0  # seconds to wait for another writer's commit before giving up


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


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("fingerprint", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("source", tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("ts", indexed=True, fast=True)
    sb.add_text_field("body", tokenizer_name="words", index_option="freq")
    return sb.build()


class KeywordIndex:
    """BM25 over chunk texts (title + text), persisted in `path`, updated by upsert/delete."""

    _writing: dict[Path, threading.Lock] = {}  # one writer per folder among this process's

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.schema = _schema()
        self._lock = KeywordIndex._writing.setdefault(self.path.resolve(), threading.Lock())
        try:
            self._index = self._open()
        except (OSError, ValueError) as exc:
            # A damaged disk or a foreign file (a crash leaves the last commit readable): the
            # index is derived data, so start empty and let sync() refill it from Chroma.
            warnings.warn(
                f"keyword index in {self.path} is unreadable ({exc}); rebuilding it from the "
                "collection",
                stacklevel=2,
            )
            shutil.rmtree(self.path, ignore_errors=True)
            self._index = self._open()

    @classmethod
    def for_store(cls, settings, **kwargs) -> KeywordIndex:
        """The index that belongs to a store's settings: `<store path>/keyword`."""
        return cls(Path(settings.path) / "keyword", **kwargs)

    def _open(self) -> tantivy.Index:
        # Files but no tantivy index among them: e.g. the bm25s index of earlier versions.
        found = self.path.is_dir() and any(self.path.iterdir())
        if found and not (self.path / "meta.json").exists():
            raise ValueError("not a tantivy index (no meta.json)")
        self.path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        index.register_tokenizer(
            "words", tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()
        )
        return index

    # --- updates (the NewsStore listener interface) -----------------------------------------
    def upsert(self, chunks: Iterable) -> None:
        """Add or replace chunks (objects with id, text, metadata), in one commit."""
        chunks = iter(chunks)
        first = next(chunks, None)
        if first is None:
            return

        def write(writer) -> None:
            for c in itertools.chain([first], chunks):
                writer.delete_documents_by_term("id", c.id)  # the old copy, if any
                writer.add_document(self._document(c))

        self._commit(write)

    def delete(self, ids: Iterable[str]) -> None:
        """Remove chunks by id (unknown ids are ignored), in one commit."""
        ids = list(ids)
        if not ids:
            return

        def write(writer) -> None:
            for i in ids:
                writer.delete_documents_by_term("id", i)

        self._commit(write)

    def _document(self, chunk) -> tantivy.Document:
        meta = chunk.metadata
        doc = tantivy.Document()
        doc.add_text("id", chunk.id)
        doc.add_text("body", " ".join(tokenize(_doc_text(chunk.text, meta))))
        doc.add_text("source", meta.get("source") or "")
        if meta.get("fingerprint") is not None:
            doc.add_text("fingerprint", meta["fingerprint"])
        if meta.get("published_ts") is not None:
            doc.add_integer("ts", int(meta["published_ts"]))
        return doc

    def _commit(self, write: Callable) -> None:
        """Run `write(writer)` and commit it: all of it is on disk and searchable, or none."""
        with self._lock:
            writer = self._writer()
            try:
                write(writer)
                writer.commit()
            except BaseException as exc:
                # Dropped uncommitted, its writes with it: the index stays its last commit.
                with contextlib.suppress(ValueError):
                    writer.wait_merging_threads()
                # tantivy's I/O errors are ValueErrors, and a failed worker thread's does not
                # say why: a full disk is told by the free space left, as NewsStore tells it.
                full = is_disk_full(exc) or free_bytes(self.path) < 2**20
                if isinstance(exc, ValueError) and full:
                    raise OSError(
                        errno.ENOSPC, f"No space left on device (keyword index in {self.path})"
                    ) from exc
                raise
            try:
                # The merges this commit started (small segments: milliseconds here), so
                # segments do not pile up as they would if the writer dropped them.
                writer.wait_merging_threads()
            except ValueError as exc:  # the commit stands; the next one merges again
                warnings.warn(f"keyword index merge in {self.path} failed: {exc}", stacklevel=3)
            self._index.reload()

    def _writer(self):
        deadline = time.monotonic() + _LOCK_WAIT
        while True:
            try:
                return self._index.writer(_WRITER_HEAP, 1)
            except ValueError as exc:
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"the keyword index in {self.path} is being written by another "
                        "process; give each newsqa process a store.path of its own"
                    ) from exc
                time.sleep(0.05)

    # --- queries ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._index.searcher().num_docs

    def ids(self) -> set[str]:
        return set(self.fingerprints())

    def fingerprints(self) -> dict[str, str | None]:
        """Each indexed chunk id -> the fingerprint of the article text it was indexed from."""
        searcher = self._index.searcher()
        n = searcher.num_docs
        if not n:
            return {}
        hits = searcher.search(tantivy.Query.all_query(), n, count=False).hits
        out = {}
        for _, address in hits:
            doc = searcher.doc(address)
            out[doc.get_first("id")] = doc.get_first("fingerprint")
        return out

    def idf(self, words: list[str]) -> list[float]:
        """Each word's BM25 idf over the indexed chunks: rare words weigh most (a word the index
        has never seen gets the idf of a word in no chunk; a stop word gets 0)."""
        searcher = self._index.searcher()
        n_docs = searcher.num_docs
        out = []
        for word in words:
            terms = tokenize(word)
            if not terms:
                out.append(0.0)
                continue
            df = searcher.doc_freq("body", terms[0])
            out.append(math.log(1 + (n_docs - df + 0.5) / (df + 0.5)))
        return out

    def search(
        self, query: str, k: int = 10, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """The k best chunk ids for the query with their BM25 scores, best first."""
        words = tokenize(query)
        if not words or k <= 0:
            return []
        q = tantivy.Query
        found = q.boolean_query(
            [(tantivy.Occur.Should, q.term_query(self.schema, "body", w, "freq")) for w in words]
        )
        clauses = [(tantivy.Occur.Must, found), *self._filter_clauses(filters)]
        searcher = self._index.searcher()
        hits = searcher.search(q.boolean_query(clauses), k, count=False).hits
        return [(searcher.doc(a).get_first("id"), float(score)) for score, a in hits]

    def _filter_clauses(self, filters: Filters | None) -> list:
        """`filters` as unscored must-match clauses (the same test as `Filters.accepts`)."""
        if filters is None:
            return []
        q, must, out = tantivy.Query, tantivy.Occur.Must, []
        lo = date_to_timestamp(filters.date_from) if filters.date_from else None
        hi = date_to_timestamp(filters.date_to) if filters.date_to else None
        if lo is not None or hi is not None:
            dates = q.range_query(self.schema, "ts", tantivy.FieldType.Integer, lo, hi)
            out.append((must, q.const_score_query(dates, 0.0)))
        if filters.sources:
            sources = q.term_set_query(self.schema, "source", list(filters.sources))
            out.append((must, q.const_score_query(sources, 0.0)))
        return out

    # --- consistency with Chroma -----------------------------------------------------------
    def sync(self, store, page: int = 5000) -> dict[str, int]:
        """Make the index hold exactly the collection's chunks: add the missing, drop the extra,
        and re-index any chunk whose article fingerprint differs from the collection's (its text
        changed while this index missed the write: another process, or a crash in between)."""
        stored = store.fingerprints(page)
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
