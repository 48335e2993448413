"""The store: one Chroma collection (embedded on disk, or a `chroma run` server) and the BM25
keyword index kept in step with it, behind one object.

`NewsStore` owns both. Writes go through `ingest` (write.py), which reaches Chroma first and then
every listener, the keyword index among them; reads are `search_dense`, `search_keyword`, `get`
and `articles`. With a server, other processes' writes arrive through the change log
(changes.py) on `refresh`. The client and its errors are in chroma.py, the folder's lock and
free space in disk.py.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import warnings
import weakref
from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path

import chromadb
import numpy as np
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from .changes import ChangeLog, StoredChunk, apply
from .chroma import make_client
from .config import StoreSettings
from .disk import StoreLock
from .errors import StoreError, WrongDimension
from .keyword import KeywordIndex
from .stories import StoryIndex
from .types import Article, Failure, Filters, IngestReport
from .write import Ingestion


class NewsStore:
    """The article collection: ingestion, dense and keyword search, and listing."""

    # Writes stop while the store's disk has less free space than this plus a quarter of the
    # store: Chroma that runs out of space mid-write may hang, and leaves a log it cannot apply,
    # so that even reads fail until space is freed (docs/reliability.md).
    min_free_bytes = 64 * 2**20

    def __init__(
        self,
        settings: StoreSettings,
        embeddings: Embeddings,
        client: chromadb.ClientAPI | None = None,
        listeners: Iterable = (),
    ) -> None:
        self.settings = settings
        self.embeddings = embeddings
        # Taken before Chroma opens the folder, so a second process never opens it at all.
        self.lock = (
            StoreLock(settings.path, settings.lock_wait)
            if client is None and not settings.remote
            else None
        )
        self.client = client or make_client(settings)
        self.keyword_lock: StoreLock | None = None  # with a server: the keyword folder's
        # Listeners (such as the keyword index) see every write and delete after Chroma has it
        # (and drop chunks whose text is replaced just before: see write.py).
        self.listeners = list(listeners)
        self._dimension: int | None = None  # of the collection's vectors, once read
        # Set once Chroma itself failed a write for want of space: its next write in this
        # process hangs, even after space is freed, so none is attempted.
        self.blocked: str | None = None
        self._keyword: KeywordIndex | None = None  # opened by `keyword`
        hnsw = {
            "space": "cosine",
            "ef_construction": settings.hnsw_ef_construction,
            "ef_search": settings.hnsw_ef_search,
            "max_neighbors": settings.hnsw_max_neighbors,
        }
        try:
            # The store's own chromadb collection: every read and write here goes through it
            # (no embedding function: the store embeds, and Chroma's default would download one).
            self.collection: chromadb.Collection = self.client.get_or_create_collection(
                settings.collection, configuration={"hnsw": hnsw}, embedding_function=None
            )
        except Exception as exc:
            raise StoreError(f"cannot open collection {settings.collection!r}: {exc}") from exc
        # A Chroma server is shared: other processes' writes reach this one's listeners and
        # article listing through the change log (changes.py); an embedded store has one process.
        try:
            self.changes = (
                ChangeLog(
                    self.client,
                    settings.collection,
                    settings.change_retention,
                    settings.keyword_resync,
                )
                if settings.remote
                else None
            )
        except Exception as exc:
            raise StoreError(
                f"cannot open the change log of {settings.collection!r}: {exc}"
            ) from exc
        # articles(), kept until a write is seen; `_writes` counts them, so a listing read
        # while a write lands is not kept.
        self._listing: list[dict] | None = None
        self._writes = 0
        self._refresh_lock = threading.Lock()
        self._ingest_lock = threading.Lock()  # one ingestion at a time (a UI click, a watcher)
        self._stories: StoryIndex | None = None
        # An existing collection keeps the configuration it was created with; ef_search alone
        # can change, and only before the index is first loaded (so here, right after opening).
        stored = (self.collection.configuration or {}).get("hnsw") or {}
        if stored.get("ef_search") not in (None, settings.hnsw_ef_search):
            try:
                self.collection.modify(
                    configuration={"hnsw": {"ef_search": settings.hnsw_ef_search}}
                )
            except Exception as exc:  # e.g. another client in this process holds the database
                warnings.warn(
                    f"could not set hnsw ef_search={settings.hnsw_ef_search} on "
                    f"{settings.collection!r} (it stays {stored['ef_search']}): {exc}",
                    stacklevel=2,
                )

    @cached_property
    def vectorstore(self) -> Chroma:
        """The collection as a LangChain vector store (langchain-chroma), for composing with
        LangChain (`as_retriever`, agents); newsqa itself uses the search methods here."""
        return Chroma(
            client=self.client,
            collection_name=self.settings.collection,
            embedding_function=self.embeddings,
        )

    def close(self) -> None:
        """Let go of the store's lock (once every store on the folder in this process has),
        so another process may open it; this object must not be used afterwards."""
        for lock in (self.lock, self.keyword_lock):
            if lock is not None:
                lock.release()

    def count(self) -> int:
        return self.collection.count()

    def ingest(
        self,
        items: Iterable[Article | Failure],
        progress: bool | None = None,
        total: int | None = None,
    ) -> IngestReport:
        """Store articles; report each as added, updated, unchanged or failed (with the reason)."""
        show = sys.stderr.isatty() if progress is None else progress
        with self._ingest_lock:
            return Ingestion(self).run(items, show, total)

    # --- stories (syndicated copies) ---------------------------------------------------------
    @property
    def stories(self) -> StoryIndex:
        """The stored articles' signatures, read from the store on first use (stories.py)."""
        if self._stories is None:
            self._stories = StoryIndex(self.settings.story_threshold).load(
                (meta["article_id"], meta.get("story", ""), meta["minhash"])
                for _, meta in self._metadatas()
                if isinstance(meta.get("minhash"), str) and "article_id" in meta
            )
        return self._stories

    def story_members(self, stories: Iterable[str], limit: int = 20) -> dict[str, list[dict]]:
        """The articles of each story (article_id, title, source, published, url, from their
        first chunks), at most `limit` a story, in one query for them all."""
        wanted = sorted(set(stories))
        if not wanted:
            return {}
        where = {"$and": [{"story": {"$in": wanted}}, {"chunk": 0}]}
        got = self.collection.get(where=where, include=["metadatas"], limit=limit * len(wanted))
        keys = ("article_id", "title", "source", "published", "url")
        members: dict[str, list[dict]] = {s: [] for s in wanted}
        for meta in got["metadatas"]:
            found = members.get(meta.get("story"))
            if found is not None and len(found) < limit:
                found.append({k: meta.get(k, "") for k in keys})
        return members

    # --- the keyword index -----------------------------------------------------------------
    @property
    def keyword(self) -> KeywordIndex:
        """The BM25 index of the collection's chunks, opened (and repaired from the collection)
        on first use, and from then on told of every write."""
        if self._keyword is None:
            # One the caller opened and passed in as a listener, else the store's own.
            index = next((x for x in self.listeners if isinstance(x, KeywordIndex)), None)
            if index is None:
                index = (
                    self._server_keyword_index()
                    if self.settings.remote
                    else KeywordIndex.for_store(self.settings)
                )
            index.sync(self)
            if self.changes is not None:
                self.changes.repaired()
            if index not in self.listeners:
                self.listeners.append(index)
            self._keyword = index
        return self._keyword

    def _server_keyword_index(self) -> KeywordIndex:
        """With a Chroma server, this process's keyword index: in store.path (which holds nothing
        else), locked so that one process writes it; when another newsqa process has it
        (`newsqa ask` beside the UI), one of its own in a temporary folder, built from the
        collection and deleted at exit."""
        folder = Path(self.settings.path)
        if self.keyword_lock is None:
            try:
                self.keyword_lock = StoreLock(folder, self.settings.lock_wait)
            except StoreError:
                own = Path(tempfile.mkdtemp(prefix="newsqa-keyword-"))
                weakref.finalize(self, shutil.rmtree, own, ignore_errors=True)
                warnings.warn(
                    f"the keyword index in {folder / 'keyword'} is in use by another newsqa "
                    f"process; this one keeps its own in {own}, built from the collection (give "
                    "each long-running process a store.path of its own)",
                    stacklevel=4,
                )
                return KeywordIndex(own / "keyword")
        return KeywordIndex.for_store(self.settings)

    def search_keyword(
        self, query: str, k: int = 10, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """Keyword search: (chunk id, BM25 score) pairs, best first."""
        return self.keyword.search(query, k, filters)

    def fingerprints(self, page: int = 5000) -> dict[str, str | None]:
        """Every chunk id in the collection with its article's fingerprint (for `sync`)."""
        return {i: meta.get("fingerprint") for i, meta in self._metadatas(page)}

    def check_dimension(self, vector: list[float]) -> None:
        """Refuse vectors of another length than the collection's: its embedding model changed
        (Chroma's own error for this says nothing of the setting)."""
        if self._dimension is None:
            got = self.collection.get(limit=1, include=["embeddings"])
            # An empty collection takes the first vectors it is given.
            self._dimension = len(got["embeddings"][0]) if got["ids"] else len(vector)
        if len(vector) != self._dimension:
            raise WrongDimension(
                f"the collection {self.settings.collection!r} holds {self._dimension}-dimension "
                f"vectors, but the embedding model ({self.settings.embedding_provider} "
                f"{self.settings.embedding_name}) makes {len(vector)}-dimension ones; use the "
                "model the collection was built with (store.embedding_provider, "
                "embedding_model, embedding_remote_model), or another collection "
                "(store.collection) and ingest again"
            )

    # --- reading ---------------------------------------------------------------------------
    def search(
        self, query: str, k: int = 10, filters: Filters | None = None
    ) -> list[tuple[Document, float]]:
        """Dense search for a text: (chunk, cosine similarity) pairs, best first."""
        return self.search_dense(self.embeddings.embed_query(query), k, filters)

    def search_dense(
        self, vector: list[float], k: int = 10, filters: Filters | None = None
    ) -> list[tuple[Document, float]]:
        """Dense search for a query vector: (chunk, cosine similarity) pairs, best first."""
        self.check_dimension(vector)
        if k <= 0:
            return []
        got = self.collection.query(
            query_embeddings=[vector],
            n_results=k,
            where=filters.to_where() if filters else None,
            include=["documents", "metadatas", "distances"],
        )
        # Chroma gives the cosine distance; callers want a similarity.
        return [
            (Document(page_content=text, metadata=meta or {}, id=i), 1.0 - distance)
            for i, text, meta, distance in zip(
                got["ids"][0],
                got["documents"][0],
                got["metadatas"][0],
                got["distances"][0],
                strict=True,
            )
        ]

    def get(self, ids: list[str]) -> list[Document]:
        """Chunks by id, in the order asked (missing ids are left out)."""
        if not ids:
            return []
        got = self.collection.get(ids=ids, include=["documents", "metadatas"])
        by_id = {
            i: Document(page_content=d, metadata=m, id=i)
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }
        return [by_id[i] for i in ids if i in by_id]

    def get_scored(self, ids: list[str], vector: list[float]) -> list[tuple[Document, float]]:
        """Chunks by id with their cosine similarity to a query vector (for keyword hits that
        dense search did not return); missing ids are left out."""
        if not ids:
            return []
        got = self.collection.get(ids=ids, include=["documents", "metadatas", "embeddings"])
        q = np.asarray(vector, dtype=np.float32)
        out = []
        for i, text, meta, emb in zip(
            got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
        ):
            e = np.asarray(emb, dtype=np.float32)
            sim = float(e @ q / ((np.linalg.norm(e) * np.linalg.norm(q)) or 1.0))
            out.append((Document(page_content=text, metadata=meta, id=i), sim))
        return out

    def iter_chunks(self, page: int = 2000) -> Iterator[Document]:
        """Every chunk in the collection, a page at a time."""
        for got in self._pages(["documents", "metadatas"], page):
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                yield Document(page_content=d, metadata=m, id=i)

    def _metadatas(self, page: int = 5000) -> Iterator[tuple[str, dict]]:
        """Every chunk's (id, metadata), a page at a time."""
        for got in self._pages(["metadatas"], page):
            for i, meta in zip(got["ids"], got["metadatas"], strict=True):
                yield i, meta or {}

    def _pages(self, include: list[str], page: int) -> Iterator[dict]:
        """The collection `page` chunks at a time, as Chroma's `get` returns them."""
        offset = 0
        while (got := self.collection.get(include=include, limit=page, offset=offset))["ids"]:
            yield got
            offset += len(got["ids"])

    def forget_listing(self) -> None:
        """Drop the kept article listing: a write changed (or may have changed) the store."""
        self._writes += 1
        self._listing = None

    def refresh(self) -> None:
        """Take in what other processes wrote to a shared Chroma server since the last call: their
        chunks reach the listeners (the keyword index) and the article listing is read again.
        Nothing to do for an embedded store (one process). See changes.py for the bounds."""
        if self.changes is None:
            return
        with self._refresh_lock:
            ids, repair = self.changes.pending()
            if repair:
                for listener in self.listeners:
                    if hasattr(listener, "sync"):
                        listener.sync(self)
                self.changes.repaired()
                self.forget_listing()
            elif ids:
                apply(ids, self._stored_chunks, self.listeners)
                self.forget_listing()

    def _stored_chunks(self, ids: list[str]) -> list[StoredChunk]:
        return [StoredChunk(d.id, d.page_content, d.metadata) for d in self.get(ids)]

    def articles(self) -> list[dict]:
        """One row per stored article: id, title, source, published, url, origin, chunks; newest
        first. Kept between writes (this process's, and with a server, those `refresh` sees)."""
        self.refresh()
        writes, listing = self._writes, self._listing
        if listing is None:
            listing = self._read_articles()
            if writes == self._writes:
                self._listing = listing
        return [dict(row) for row in listing]

    def _read_articles(self) -> list[dict]:
        rows: dict[str, dict] = {}
        for _, meta in self._metadatas():
            row = rows.setdefault(
                meta["article_id"],
                {
                    "id": meta["article_id"],
                    "title": meta.get("title", ""),
                    "source": meta.get("source", ""),
                    "published": meta.get("published", ""),
                    "url": meta.get("url", ""),
                    "origin": meta.get("origin") or "operator",
                    "chunks": 0,
                },
            )
            row["chunks"] += 1
        return sorted(rows.values(), key=lambda r: (r["published"], r["title"]), reverse=True)
