"""Chroma (embedded on disk, or a `chroma run` server) with idempotent, per-article upserts."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from tqdm import tqdm

from .chunk import chunk_article
from .config import StoreSettings
from .types import Article, Chunk, Failure, Filters, IngestReport


class StoreError(RuntimeError):
    """The store cannot be opened or reached."""


def make_client(settings: StoreSettings) -> chromadb.ClientAPI:
    """A Chroma client: a server when `chroma_host` is set, else a folder on disk."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.chroma_host:
            return chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
        settings.path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.path), settings=chroma_settings)
    except Exception as exc:
        where = (
            f"Chroma server at {settings.chroma_host}:{settings.chroma_port}"
            if settings.chroma_host
            else f"Chroma store in {settings.path}"
        )
        raise StoreError(f"cannot open the {where}: {exc}") from exc


@dataclass
class _Pending:
    article: Article
    chunks: list[Chunk]
    stale_ids: list[str]
    existed: bool


class NewsStore:
    """The article collection: ingestion, dense search and listing."""

    def __init__(
        self,
        settings: StoreSettings,
        embeddings: Embeddings,
        client: chromadb.ClientAPI | None = None,
        listeners: Iterable = (),
    ) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.client = client or make_client(settings)
        # Listeners (such as the keyword index) see every write and delete after Chroma has it.
        self.listeners = list(listeners)
        hnsw = {
            "space": "cosine",
            "ef_construction": settings.hnsw_ef_construction,
            "ef_search": settings.hnsw_ef_search,
            "max_neighbors": settings.hnsw_max_neighbors,
        }
        try:
            self.vectorstore = Chroma(
                client=self.client,
                collection_name=settings.collection,
                embedding_function=embeddings,
                collection_configuration={"hnsw": hnsw},
            )
        except Exception as exc:
            raise StoreError(f"cannot open collection {settings.collection!r}: {exc}") from exc
        # An existing collection keeps the configuration it was created with; ef_search alone
        # can change, and only before the index is first loaded (so here, right after opening).
        stored = (self.collection.configuration or {}).get("hnsw") or {}
        if stored.get("ef_search") not in (None, settings.hnsw_ef_search):
            try:
                self.collection.modify(
                    configuration={"hnsw": {"ef_search": settings.hnsw_ef_search}})
            except Exception as exc:  # e.g. another client in this process holds the database
                warnings.warn(f"could not set hnsw ef_search={settings.hnsw_ef_search} on "
                              f"{settings.collection!r} (it stays {stored['ef_search']}): {exc}",
                              stacklevel=2)

    @property
    def collection(self) -> chromadb.Collection:
        return self.vectorstore._collection

    def count(self) -> int:
        return self.collection.count()

    # --- ingestion -------------------------------------------------------------------------
    def ingest(self, items: Iterable[Article | Failure], progress: bool | None = None,
               total: int | None = None) -> IngestReport:
        """Store articles; report each as added, updated, unchanged or failed (with the reason)."""
        report = IngestReport()
        start = time.perf_counter()
        show = sys.stderr.isatty() if progress is None else progress
        batch: list[_Pending] = []
        seen: dict[str, str] = {}
        bar = tqdm(items, total=total, desc="ingest", unit="article", disable=not show)
        for item in bar:
            if isinstance(item, Failure):
                report.failed.append(item)
                continue
            pending = self._plan(item, seen, report)
            if pending is None:
                continue
            batch.append(pending)
            if sum(len(p.chunks) for p in batch) >= self.settings.embedding_batch_size * 4:
                self._write(batch, report)
                batch = []
        if batch:
            self._write(batch, report)
        report.seconds = time.perf_counter() - start
        return report

    def _plan(self, article: Article, seen: dict[str, str], report: IngestReport) -> _Pending | None:
        if not article.text.strip():
            report.failed.append(Failure(article.origin or article.id, "the article has no text"))
            return None
        if len(article.text) > self.settings.max_article_chars:
            report.failed.append(Failure(
                article.origin or article.id,
                f"the article is {len(article.text):,} characters, over the limit of "
                f"{self.settings.max_article_chars:,} (setting store.max_article_chars)",
            ))
            return None
        if seen.get(article.id) == article.fingerprint:
            report.unchanged.append(article.id)
            return None
        seen[article.id] = article.fingerprint
        chunks = chunk_article(article, self.settings.chunk_size, self.settings.chunk_overlap)
        existing = self.collection.get(where={"article_id": article.id}, include=["metadatas"])
        old_ids = set(existing["ids"])
        new_ids = {c.id for c in chunks}
        # Unchanged only when every chunk is there with the same fingerprint: a run that crashed
        # part-way through an article left some chunks missing, and this redoes them.
        if old_ids == new_ids and all(
            m.get("fingerprint") == article.fingerprint for m in existing["metadatas"]
        ):
            report.unchanged.append(article.id)
            return None
        return _Pending(article, chunks, sorted(old_ids - new_ids), existed=bool(old_ids))

    def _write(self, batch: list[_Pending], report: IngestReport) -> None:
        chunks = [c for p in batch for c in p.chunks]
        try:
            vectors = self.embeddings.embed_documents([c.embed_text for c in chunks])
            self._upsert(chunks, vectors)
            stale = [i for p in batch for i in p.stale_ids]
            if stale:
                self.collection.delete(ids=stale)
                for listener in self.listeners:
                    listener.delete(stale)
        except Exception as exc:
            if len(batch) > 1:  # find the article at fault; the others still go in
                for pending in batch:
                    self._write([pending], report)
                return
            report.failed.append(Failure(batch[0].article.origin or batch[0].article.id,
                                         f"could not be stored: {exc}"))
            return
        report.chunks_written += len(chunks)
        for p in batch:
            (report.updated if p.existed else report.added).append(p.article.id)

    def _upsert(self, chunks: list[Chunk], vectors: list[list[float]]) -> None:
        step = max(1, min(self.client.get_max_batch_size(), 5000))
        for i in range(0, len(chunks), step):
            part = chunks[i : i + step]
            self.collection.upsert(
                ids=[c.id for c in part],
                embeddings=vectors[i : i + step],
                documents=[c.text for c in part],
                metadatas=[c.metadata for c in part],
            )
        for listener in self.listeners:
            listener.upsert(chunks)

    # --- reading ---------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, filters: Filters | None = None
               ) -> list[tuple[Document, float]]:
        """Dense search: (chunk, cosine similarity) pairs, best first."""
        vector = self.embeddings.embed_query(query)
        return self.search_by_vector(vector, k, filters)

    def search_by_vector(self, vector: list[float], k: int = 10, filters: Filters | None = None
                         ) -> list[tuple[Document, float]]:
        where = filters.to_where() if filters else None
        found = self.vectorstore.similarity_search_by_vector_with_relevance_scores(
            vector, k=k, filter=where
        )
        # langchain-chroma returns the cosine distance here; callers want a similarity.
        return [(doc, 1.0 - distance) for doc, distance in found]

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

    def iter_chunks(self, page: int = 2000) -> Iterator[Document]:
        """Every chunk in the collection, a page at a time."""
        offset = 0
        while True:
            got = self.collection.get(include=["documents", "metadatas"], limit=page, offset=offset)
            if not got["ids"]:
                return
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                yield Document(page_content=d, metadata=m, id=i)
            offset += len(got["ids"])

    def articles(self) -> list[dict]:
        """One row per stored article: id, title, source, published, url, chunks; newest first."""
        rows: dict[str, dict] = {}
        offset = 0
        while True:
            got = self.collection.get(include=["metadatas"], limit=5000, offset=offset)
            if not got["ids"]:
                break
            for meta in got["metadatas"]:
                row = rows.setdefault(meta["article_id"], {
                    "id": meta["article_id"], "title": meta.get("title", ""),
                    "source": meta.get("source", ""), "published": meta.get("published", ""),
                    "url": meta.get("url", ""), "chunks": 0,
                })
                row["chunks"] += 1
            offset += len(got["ids"])
        return sorted(rows.values(), key=lambda r: (r["published"], r["title"]), reverse=True)

