"""Chroma (embedded on disk, or a `chroma run` server) with idempotent, per-article upserts."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import chromadb
import httpx
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from tqdm import tqdm

from .changes import ChangeLog, StoredChunk, apply
from .chunk import chunk_article
from .config import CLOUD_HOST, StoreSettings
from .errors import StoreError, WrongDimension
from .types import Article, Chunk, Failure, Filters, IngestReport, provenance_kind

# Title, outlet and author are copied into every chunk's embedded text and metadata: a 500 KB
# title in a 651 KB upload grew the store by 417 MB. Longer values are cut, a URL is refused.
MAX_FIELD_CHARS = 300
MAX_URL_CHARS = 2048
LOOKUP_BATCH = 32  # articles whose stored chunks one ingestion query looks up (`$in`)
_KIND_SHOWN = {"fetch": "fetched from its URL", "operator": "added by the operator"}


def make_client(settings: StoreSettings) -> chromadb.ClientAPI:
    """A Chroma client: a server when `chroma_host` (or `chroma_cloud`) is set, else a folder."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.remote:
            return _http_client(settings, chroma_settings)
        settings.path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.path), settings=chroma_settings)
    except Exception as exc:
        reason = _no_secrets(exc, settings)
        raise StoreError(f"cannot open the {settings.chroma_where}: {reason}") from exc


def _no_secrets(exc: Exception, settings: StoreSettings) -> str:
    """The error's text with every configured header value and the API key blanked out."""
    text = str(exc)
    secrets = [v.get_secret_value() for v in settings.chroma_headers.values()]
    if settings.chroma_api_key:
        secrets.append(settings.chroma_api_key.get_secret_value())
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    return text


def _http_client(settings: StoreSettings, chroma_settings: ChromaSettings) -> chromadb.ClientAPI:
    # chromadb's HTTP client waits forever on a server that accepts but never answers (a hung or
    # stopped process): ask its heartbeat with a deadline first, then bound every later request.
    headers = {k: v.get_secret_value() for k, v in settings.chroma_headers.items()}
    verify = settings.chroma_ssl_verify
    verify = str(verify) if isinstance(verify, Path) else verify  # a CA bundle, or on/off
    chroma_settings.chroma_server_ssl_verify = verify
    if settings.chroma_cloud:
        host, port, ssl = settings.chroma_host or CLOUD_HOST, 443, True
        if settings.chroma_api_key:
            headers.setdefault("X-Chroma-Token", settings.chroma_api_key.get_secret_value())
    else:
        host, port, ssl = settings.chroma_host, settings.chroma_port, settings.chroma_ssl
    url = f"{'https' if ssl else 'http'}://{host}:{port}/api/v2/heartbeat"
    httpx.get(
        url,
        headers=headers,
        timeout=settings.chroma_timeout,
        verify=verify,
    ).raise_for_status()
    if settings.chroma_cloud:
        client = chromadb.CloudClient(
            tenant=settings.chroma_tenant,
            database=settings.chroma_database,
            api_key=settings.chroma_api_key.get_secret_value() if settings.chroma_api_key else None,
            settings=chroma_settings,
            cloud_host=host,
            cloud_port=port,
            enable_ssl=True,
        )
    else:
        client = chromadb.HttpClient(
            host=host,
            port=port,
            ssl=ssl,
            headers=headers or None,
            settings=chroma_settings,
            tenant=settings.chroma_tenant,
            database=settings.chroma_database,
        )
    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):  # a private attribute: skip if chromadb renames it
        session.timeout = httpx.Timeout(
            settings.chroma_timeout, connect=min(5.0, settings.chroma_timeout)
        )
    return client


class StoreLock:
    """One process per embedded store: an exclusive `flock` on `<store>/.lock`, held while open.

    Embedded Chroma is not safe with two processes on one folder: a second process that holds
    it open while another writes has corrupted its vector index (a 181 GB sparse HNSW file), and
    a keyword compaction in one process wrote its stale state over the other's log
    (docs/reliability.md). The kernel drops the lock when its process dies, even by kill -9, so
    a crash never leaves the store locked. Within one process, every NewsStore on a folder
    shares one lock (a second `flock` on a new descriptor would conflict with the first).
    """

    _held: dict[Path, list] = {}  # resolved store folder -> [file descriptor, users]
    _guard = threading.Lock()

    def __init__(self, folder: Path, wait: float = 0.0) -> None:
        self.folder = Path(folder).resolve()
        with self._guard:
            held = self._held.get(self.folder)
            if held is None:
                held = self._held[self.folder] = [self._acquire(wait), 0]
            held[1] += 1
        self._finalizer = weakref.finalize(self, StoreLock._release, self.folder)

    def _acquire(self, wait: float) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                    os.close(fd)
                    waited = f" (waited {wait:g} s, setting store.lock_wait)" if wait else ""
                    raise StoreError(
                        f"the store in {self.folder} is open in another newsqa process "
                        f"(pid {holder}){waited}; stop it, or use a Chroma server "
                        "(store.chroma_host), which many processes can share"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # for the message the next process shows
        return fd

    @classmethod
    def _release(cls, folder: Path) -> None:
        with cls._guard:
            held = cls._held.get(folder)
            if held is None:
                return
            held[1] -= 1
            if held[1] <= 0:
                del cls._held[folder]
                os.close(held[0])  # closing the last descriptor drops the flock

    def release(self) -> None:
        self._finalizer()


@dataclass
class _Pending:
    article: Article
    chunks: list[Chunk]
    stale_ids: list[str]
    existed: bool
    replaced_ids: list[str]  # chunk ids that stay but get new text


def _capped(article: Article) -> Article:
    """The article with title, outlet and author cut to MAX_FIELD_CHARS (its id unchanged)."""
    long = {
        name: value[: MAX_FIELD_CHARS - 1].rstrip() + "…"
        for name in ("title", "source", "author")
        if len(value := getattr(article, name)) > MAX_FIELD_CHARS
    }
    return replace(article, **long) if long else article


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error (an OSError, or Chroma's or SQLite's message) means the disk is full."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        text = str(exc).lower()
        if "no space left" in text or "disk is full" in text or "disk full" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class _LowOnSpace(OSError):
    """The store's own refusal to write within its free-space margin."""


def free_bytes(path: Path) -> int:
    """Free space on the disk that holds `path` (or its nearest existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return sys.maxsize


def _allocated_bytes(folder: Path) -> int:
    """Disk space taken by the files under `folder` (blocks, not sizes: Chroma's are sparse)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # a file may go (a compaction) while we count
                total += os.stat(os.path.join(root, name)).st_blocks * 512
    return total


class NewsStore:
    """The article collection: ingestion, dense search and listing."""

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
        # (and drop chunks whose text is replaced just before: see `_write`).
        self.listeners = list(listeners)
        # Why every later write of this ingest would fail the same way (the disk is full, the
        # embedding model makes vectors of another length than the collection's), or None.
        self._no_writes: str | None = None
        self._dimension: int | None = None  # of the collection's vectors, once read
        # Set once Chroma itself failed a write for want of space: its next write in this
        # process hangs, even after space is freed, so none is attempted.
        self._blocked: str | None = None
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
        LangChain (`as_retriever`, agents); newsqa itself uses `collection` and the retrievers."""
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

    # --- ingestion -------------------------------------------------------------------------
    def ingest(
        self,
        items: Iterable[Article | Failure],
        progress: bool | None = None,
        total: int | None = None,
    ) -> IngestReport:
        """Store articles; report each as added, updated, unchanged or failed (with the reason)."""
        report = IngestReport()
        start = time.perf_counter()
        show = sys.stderr.isatty() if progress is None else progress
        batch: list[_Pending] = []
        seen: dict[str, str] = {}
        self._no_writes = self._blocked
        bar = tqdm(items, total=total, desc="ingest", unit="article", disable=not show)
        for item, stored in self._with_stored(bar, seen):
            if isinstance(item, Failure):
                report.failed.append(item)
                continue
            if self._no_writes:  # every later write would fail the same way: report, go on
                report.failed.append(Failure(item.origin or item.id, self._no_writes))
                continue
            if any(p.article.id == item.id for p in batch) and seen[item.id] != item.fingerprint:
                # A second, different copy of an article still waiting to be written: write the
                # first, so this one's plan sees (and removes) the chunks it leaves behind.
                self._write(batch, report)
                batch = []
            pending = self._plan(item, seen, report, stored)
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

    def _with_stored(self, items: Iterable[Article | Failure], seen: dict[str, str]):
        """Each item with the metadata of its stored chunks, looked up LOOKUP_BATCH at a time.

        One `$in` query per group instead of one per article: against a Chroma server each
        lookup is a round trip. An id met earlier in this run is looked up again when its turn
        comes (None here), since its first copy may have been written since.
        """
        group: list[Article | Failure] = []

        def flush():
            ids = sorted({a.id for a in group if isinstance(a, Article) and a.id not in seen})
            stored: dict[str, list[tuple[str, dict]]] = {i: [] for i in ids}
            if ids:
                got = self.collection.get(where={"article_id": {"$in": ids}}, include=["metadatas"])
                for cid, meta in zip(got["ids"], got["metadatas"], strict=True):
                    stored.setdefault(meta.get("article_id"), []).append((cid, meta))
            for item in group:  # only an id's first item in the group gets what was looked up
                yield item, (stored.pop(item.id, None) if isinstance(item, Article) else None)
            group.clear()

        for item in items:
            group.append(item)
            if len(group) >= LOOKUP_BATCH:
                yield from flush()
        yield from flush()

    def _plan(
        self,
        article: Article,
        seen: dict[str, str],
        report: IngestReport,
        stored: list[tuple[str, dict]] | None = None,
    ) -> _Pending | None:
        if article.url and len(article.url) > MAX_URL_CHARS:
            report.failed.append(
                Failure(
                    article.origin or article.id,
                    f"the URL is {len(article.url):,} characters, over the limit of "
                    f"{MAX_URL_CHARS:,}",
                )
            )
            return None
        article = _capped(article)
        if not article.text.strip():
            report.failed.append(Failure(article.origin or article.id, "the article has no text"))
            return None
        if len(article.text) > self.settings.max_article_chars:
            report.failed.append(
                Failure(
                    article.origin or article.id,
                    f"the article is {len(article.text):,} characters, over the limit of "
                    f"{self.settings.max_article_chars:,} (setting store.max_article_chars)",
                )
            )
            return None
        if seen.get(article.id) == article.fingerprint:
            report.unchanged.append(article.id)
            return None
        seen[article.id] = article.fingerprint
        chunks = chunk_article(article, self.settings.chunk_size, self.settings.chunk_overlap)
        if stored is None:
            got = self.collection.get(where={"article_id": article.id}, include=["metadatas"])
            stored = list(zip(got["ids"], got["metadatas"], strict=True))
        old_ids = {cid for cid, _ in stored}
        metadatas = [meta for _, meta in stored]
        new_ids = {c.id for c in chunks}
        kind = provenance_kind(article.provenance)
        stored_kinds = {provenance_kind(m.get("origin")) for m in metadatas}
        # A web UI upload chooses its own id, URL and outlet: it may add articles and replace
        # earlier uploads, never an article fetched from its URL or added by the operator.
        if kind == "upload" and (stored_kinds - {"upload"}):
            shown = _KIND_SHOWN[min(stored_kinds - {"upload"})]
            report.failed.append(
                Failure(
                    article.origin or article.id,
                    f"an article with this id or URL is already stored ({shown}); an upload "
                    "cannot replace it",
                )
            )
            return None
        # Unchanged only when every chunk is there with the same fingerprint (and the same kind
        # of origin): a run that crashed part-way through an article left some chunks missing,
        # and this redoes them.
        if (
            old_ids == new_ids
            and stored_kinds == {kind}
            and all(m.get("fingerprint") == article.fingerprint for m in metadatas)
        ):
            report.unchanged.append(article.id)
            return None
        return _Pending(
            article,
            chunks,
            sorted(old_ids - new_ids),
            existed=bool(old_ids),
            replaced_ids=sorted(old_ids & new_ids),
        )

    def _write(self, batch: list[_Pending], report: IngestReport) -> None:
        chunks = [c for p in batch for c in p.chunks]
        try:
            if self._no_writes or self._low_on_space():
                raise _LowOnSpace(errno.ENOSPC, "No space left on device")
            vectors = self.embeddings.embed_documents([c.embed_text for c in chunks])
            self._check_dimension(vectors[0])
            # Chunks that keep their id but change text leave the listeners before Chroma takes
            # the new text: a crash in between then leaves a listener short of ids, which
            # sync() refills from Chroma, never holding the old text under a current id.
            replaced = [i for p in batch for i in p.replaced_ids]
            if replaced:
                for listener in self.listeners:
                    listener.delete(replaced)
            self._upsert(chunks, vectors)
            stale = [i for p in batch for i in p.stale_ids]
            if stale:
                self.collection.delete(ids=stale)
                for listener in self.listeners:
                    listener.delete(stale)
            if self.changes is not None:  # in the try: a record that fails fails the batch
                self.changes.record([c.id for c in chunks], stale)
            self._stale_listing()
        except Exception as exc:
            self._stale_listing()  # part of the batch may be written
            if isinstance(exc, WrongDimension):
                self._no_writes = f"could not be stored: {exc}"
            # Chroma's own message for a full disk may not say so ("Failed to apply logs").
            low = not self.settings.remote and free_bytes(self.settings.path) < 2**20
            if (is_disk_full(exc) or low) and not self._no_writes:
                where = self.settings.chroma_where if self.settings.remote else self.settings.path
                self._no_writes = (
                    f"could not be stored: the disk is full (No space left on "
                    f"device) under {where}; free some space and ingest again"
                )
                if not isinstance(exc, OSError):  # Chroma's (not the keyword log's) failure
                    self._blocked = self._no_writes = (
                        f"{self._no_writes} in a new process (this one cannot write to Chroma "
                        "again)"
                    )
            if len(batch) > 1 and not self._no_writes:  # find the article at fault
                for pending in batch:
                    self._write([pending], report)
                return
            for pending in batch:
                report.failed.append(
                    Failure(
                        pending.article.origin or pending.article.id,
                        self._no_writes or f"could not be stored: {exc}",
                    )
                )
            return
        report.chunks_written += len(chunks)
        for p in batch:
            (report.updated if p.existed else report.added).append(p.article.id)

    def _low_on_space(self) -> bool:
        """Whether the store's disk is within the safety margin (`min_free_bytes`)."""
        if not self.min_free_bytes:
            return False
        folder = Path(self.settings.path)
        used = 0 if self.settings.remote else _allocated_bytes(folder)
        return free_bytes(folder) < self.min_free_bytes + used // 4

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

    def _check_dimension(self, vector: list[float]) -> None:
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
        """Dense search: (chunk, cosine similarity) pairs, best first."""
        vector = self.embeddings.embed_query(query)
        return self.search_by_vector(vector, k, filters)

    def search_by_vector(
        self, vector: list[float], k: int = 10, filters: Filters | None = None
    ) -> list[tuple[Document, float]]:
        self._check_dimension(vector)
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

    def _stale_listing(self) -> None:
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
                self._stale_listing()
            elif ids:
                apply(ids, self._stored_chunks, self.listeners)
                self._stale_listing()

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
        offset = 0
        while True:
            got = self.collection.get(include=["metadatas"], limit=5000, offset=offset)
            if not got["ids"]:
                break
            for meta in got["metadatas"]:
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
            offset += len(got["ids"])
        return sorted(rows.values(), key=lambda r: (r["published"], r["title"]), reverse=True)
