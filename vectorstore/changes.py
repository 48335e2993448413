"""A change log beside a shared collection, so every process sees every other process's writes.

With a Chroma server, several processes write one collection: app replicas, `newsqa ingest`
beside the UI. Each keeps derived data of its own (the keyword index on its disk, the article
listing in memory) that in-process listeners keep up with its own writes only. So every write
also adds a record to the collection `<collection>__changes`: the chunk ids upserted and
deleted, the writer's clock in milliseconds and the writer's id. Before each keyword search
(and each article listing) a process reads the records it has not seen and re-reads those chunks
from the collection: the ones there are upserted into its listeners, the missing ones deleted.
Reconciling against the collection, not replaying the record, makes the order of records and a
replayed record harmless.

Bounds, all explicit:
- records are read from the newest one seen minus `OVERLAP_MS`, so a record that a slow writer
  (or one whose clock lags by less than that) adds late is still read;
- writers prune records older than `retention` seconds; a process that has not read the log
  for that long repairs its listeners from the whole collection instead (`resync`);
- a writer that dies between its Chroma write and its record leaves the others short of that
  write until their next full repair: at start and every `resync_every` seconds.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable

import chromadb

OVERLAP_MS = 5 * 60 * 1000
_PRUNE_EVERY_S = 60.0
_READ_PAGE = 500  # chunk ids re-read from the collection per request


def _now_ms() -> int:
    return int(time.time() * 1000)


class ChangeLog:
    """The writer and reader sides of `<collection>__changes` for one store object."""

    def __init__(
        self,
        client: chromadb.ClientAPI,
        collection: str,
        retention: float = 86_400.0,
        resync_every: float = 3_600.0,
    ) -> None:
        # Records carry no vector; Chroma wants one, so each gets the same 1-d one (and no
        # embedding function is set, which would otherwise be Chroma's downloaded default).
        self.log = client.get_or_create_collection(
            f"{collection}__changes", embedding_function=None
        )
        self.writer = uuid.uuid4().hex
        self.retention, self.resync_every = retention, resync_every
        self._seen: dict[str, int] = {}  # record id -> its ms, kept for the overlap window
        self._newest = _now_ms()  # records older than this minus OVERLAP_MS are not read
        self._read_at = time.monotonic()
        self._synced_at = time.monotonic()
        self._pruned_at = 0.0

    # --- writer side -----------------------------------------------------------------------
    def record(self, upserted: Iterable[str] = (), deleted: Iterable[str] = ()) -> None:
        """Log one write (after Chroma has it); prune old records now and then."""
        body = {"upsert": sorted(upserted), "delete": sorted(deleted)}
        if not body["upsert"] and not body["delete"]:
            return
        ms = _now_ms()
        rid = f"{ms:015d}-{uuid.uuid4().hex[:12]}"
        self.log.add(
            ids=[rid],
            documents=[json.dumps(body)],
            metadatas=[{"ms": ms, "writer": self.writer}],
            embeddings=[[1.0]],
        )
        self._seen[rid] = ms  # this process's listeners already have it
        if time.monotonic() - self._pruned_at > _PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            self.log.delete(where={"ms": {"$lt": ms - int(self.retention * 1000)}})

    # --- reader side -----------------------------------------------------------------------
    def pending(self) -> tuple[set[str], bool]:
        """Chunk ids other processes changed since the last call, and whether the listeners
        need a full repair instead (the log was not read within `retention`, or the periodic
        repair is due)."""
        now = time.monotonic()
        if now - self._read_at > self.retention or now - self._synced_at > self.resync_every:
            self._read_at = self._synced_at = now
            self._newest = max(self._newest, _now_ms() - OVERLAP_MS)
            return set(), True
        self._read_at = now
        since = self._newest - OVERLAP_MS
        got = self.log.get(where={"ms": {"$gte": since}}, include=["metadatas"])
        fresh = [
            (rid, meta)
            for rid, meta in zip(got["ids"], got["metadatas"], strict=True)
            if rid not in self._seen
        ]
        for rid, meta in fresh:
            self._seen[rid] = int(meta["ms"])
            self._newest = max(self._newest, int(meta["ms"]))
        for rid in [r for r, ms in self._seen.items() if ms < since]:
            del self._seen[rid]
        others = [rid for rid, meta in fresh if meta.get("writer") != self.writer]
        ids: set[str] = set()
        for i in range(0, len(others), _READ_PAGE):
            bodies = self.log.get(ids=others[i : i + _READ_PAGE], include=["documents"])
            for doc in bodies["documents"]:
                body = json.loads(doc)
                ids.update(body.get("upsert", ()))
                ids.update(body.get("delete", ()))
        return ids, False

    def repaired(self) -> None:
        """Note a full repair of the listeners (at start, or after `pending` asked for one)."""
        self._synced_at = time.monotonic()


class StoredChunk:
    """A chunk as read back from the collection, in the shape listeners take."""

    __slots__ = ("id", "text", "metadata")

    def __init__(self, id: str, text: str, metadata: dict) -> None:
        self.id, self.text, self.metadata = id, text, metadata


def apply(
    ids: set[str],
    fetch: Callable[[list[str]], list[StoredChunk]],
    listeners: Iterable,
) -> None:
    """Bring listeners in line with the collection for `ids`: upsert what `fetch` finds, delete
    the rest."""
    listeners = list(listeners)
    ordered = sorted(ids)
    for i in range(0, len(ordered), _READ_PAGE):
        part = ordered[i : i + _READ_PAGE]
        found = fetch(part)
        gone = sorted(set(part) - {c.id for c in found})
        for listener in listeners:
            if gone:
                listener.delete(gone)
            if found:
                listener.upsert(found)
