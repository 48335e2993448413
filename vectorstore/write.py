"""Ingestion into the store: each article planned (new, changed, unchanged, refused), chunked,
embedded and written in batches, and reported with the reason when it cannot be stored.

A batch that fails is retried one article at a time, so one bad article never costs the rest;
a failure every later write would share (a full disk, an embedding model of another dimension)
is reported for each remaining article instead of retried. Chunks that keep their id but change
text leave the listeners before Chroma takes the new text, so a crash in between leaves nothing
that `KeywordIndex.sync` cannot repair.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from .disk import LowOnSpace, allocated_bytes, free_bytes, is_disk_full
from .errors import WrongDimension
from .ingest.chunk import chunk_article
from .types import Article, Chunk, Failure, IngestReport, provenance_kind

if TYPE_CHECKING:
    from .store import NewsStore

# Title, outlet and author are copied into every chunk's embedded text and metadata: a 500 KB
# title in a 651 KB upload grew the store by 417 MB. Longer values are cut, a URL is refused.
MAX_FIELD_CHARS = 300
MAX_URL_CHARS = 2048
LOOKUP_BATCH = 32  # articles whose stored chunks one ingestion query looks up (`$in`)
_KIND_SHOWN = {"fetch": "fetched from its URL", "operator": "added by the operator"}


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


class Ingestion:
    """One `NewsStore.ingest` call over a store."""

    def __init__(self, store: NewsStore) -> None:
        self.store = store
        self.settings = store.settings
        # Why every later write of this ingest would fail the same way (the disk is full, the
        # embedding model makes vectors of another length than the collection's), or None.
        self.no_writes: str | None = store.blocked

    def run(
        self, items: Iterable[Article | Failure], show: bool, total: int | None
    ) -> IngestReport:
        """Plan, embed and write `items` in batches (a progress bar when `show`)."""
        report = IngestReport()
        start = time.perf_counter()
        batch: list[_Pending] = []
        seen: dict[str, str] = {}
        bar = tqdm(items, total=total, desc="ingest", unit="article", disable=not show)
        for item, stored in self._with_stored(bar, seen):
            if isinstance(item, Failure):
                report.failed.append(item)
                continue
            if self.no_writes:  # every later write would fail the same way: report, go on
                report.failed.append(Failure(item.origin or item.id, self.no_writes))
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
                where = {"article_id": {"$in": ids}}
                got = self.store.collection.get(where=where, include=["metadatas"])
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
            got = self.store.collection.get(where={"article_id": article.id}, include=["metadatas"])
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
        # Syndicated copies are one story (stories.py): every chunk says which, the first one
        # keeps the signature that the next run's index is rebuilt from.
        story, encoded = self.store.stories.assign(article.id, article.text)
        for chunk in chunks:
            chunk.metadata["story"] = story
        if encoded:
            chunks[0].metadata["minhash"] = encoded
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
            if self.no_writes or self._low_on_space():
                raise LowOnSpace(errno.ENOSPC, "No space left on device")
            vectors = self.store.embeddings.embed_documents([c.embed_text for c in chunks])
            self.store.check_dimension(vectors[0])
            # Chunks that keep their id but change text leave the listeners before Chroma takes
            # the new text: a crash in between then leaves a listener short of ids, which
            # sync() refills from Chroma, never holding the old text under a current id.
            replaced = [i for p in batch for i in p.replaced_ids]
            if replaced:
                for listener in self.store.listeners:
                    listener.delete(replaced)
            self._upsert(chunks, vectors)
            stale = [i for p in batch for i in p.stale_ids]
            if stale:
                self.store.collection.delete(ids=stale)
                for listener in self.store.listeners:
                    listener.delete(stale)
            if self.store.changes is not None:  # in the try: a record that fails fails the batch
                self.store.changes.record([c.id for c in chunks], stale)
            self.store.forget_listing()
        except Exception as exc:
            self.store.forget_listing()  # part of the batch may be written
            if isinstance(exc, WrongDimension):
                self.no_writes = f"could not be stored: {exc}"
            # Chroma's own message for a full disk may not say so ("Failed to apply logs").
            low = not self.settings.remote and free_bytes(self.settings.path) < 2**20
            if (is_disk_full(exc) or low) and not self.no_writes:
                where = self.settings.chroma_where if self.settings.remote else self.settings.path
                self.no_writes = (
                    f"could not be stored: the disk is full (No space left on "
                    f"device) under {where}; free some space and ingest again"
                )
                if not isinstance(exc, OSError):  # Chroma's (not the keyword log's) failure
                    self.store.blocked = self.no_writes = (
                        f"{self.no_writes} in a new process (this one cannot write to Chroma again)"
                    )
            if len(batch) > 1 and not self.no_writes:  # find the article at fault
                for pending in batch:
                    self._write([pending], report)
                return
            for pending in batch:
                report.failed.append(
                    Failure(
                        pending.article.origin or pending.article.id,
                        self.no_writes or f"could not be stored: {exc}",
                    )
                )
            return
        report.chunks_written += len(chunks)
        for p in batch:
            (report.updated if p.existed else report.added).append(p.article.id)

    def _low_on_space(self) -> bool:
        """Whether the store's disk is within the safety margin (`min_free_bytes`)."""
        if not self.store.min_free_bytes:
            return False
        folder = Path(self.settings.path)
        used = 0 if self.settings.remote else allocated_bytes(folder)
        return free_bytes(folder) < self.store.min_free_bytes + used // 4

    def _upsert(self, chunks: list[Chunk], vectors: list[list[float]]) -> None:
        step = max(1, min(self.store.client.get_max_batch_size(), 5000))
        for i in range(0, len(chunks), step):
            part = chunks[i : i + step]
            self.store.collection.upsert(
                ids=[c.id for c in part],
                embeddings=vectors[i : i + step],
                documents=[c.text for c in part],
                metadatas=[c.metadata for c in part],
            )
        for listener in self.store.listeners:
            listener.upsert(chunks)
