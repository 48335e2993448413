"""Articles, chunks and ingestion reports: the data that flows through `vectorstore`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from .errors import BadInput


def content_hash(*parts: str) -> str:
    """A short, stable hash of some text, used for ids and change detection."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8"))
    return digest.hexdigest()[:16]


def date_to_timestamp(iso: str) -> int | None:
    """`2024-04-29` (or a full ISO datetime) -> seconds since the epoch at UTC midnight."""
    if not iso:
        return None
    try:
        day = date.fromisoformat(iso[:10])
    except ValueError:
        return None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


@dataclass
class Article:
    """One news article. Unknown fields are empty strings (or None for `url`), never invented."""

    title: str
    text: str
    source: str = ""
    author: str = ""
    published: str = ""  # ISO date, YYYY-MM-DD
    url: str | None = None
    id: str = ""
    origin: str = ""  # the file, URL or JSONL line it came from, for reports
    # What produced it, stored with it and shown on its source card: "upload:<name>" (a web UI
    # upload), "fetch:<url>" or "operator:<name>" (the CLI or Python); see provenance_kind.
    provenance: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = article_id(self.url, self.title, self.text)

    @property
    def published_ts(self) -> int | None:
        return date_to_timestamp(self.published)

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything stored about the article changes."""
        return content_hash(
            self.title, self.text, self.source, self.author, self.published, self.url or ""
        )


def provenance_kind(provenance: str | None) -> str:
    """ "upload", "fetch" or "operator" (also for stores written before provenance was kept)."""
    kind = (provenance or "").partition(":")[0]
    return kind if kind in ("upload", "fetch") else "operator"


def article_id(url: str | None, title: str, text: str) -> str:
    """An id from the URL when there is one, else from the content."""
    if url:
        return "u" + content_hash(url.strip())
    return "h" + content_hash(title.strip(), text.strip())


@dataclass
class Chunk:
    """A passage of an article, with the article's metadata; `embed_text` is what is embedded."""

    id: str  # "<article_id>:<n>"
    text: str
    embed_text: str
    metadata: dict


@dataclass
class Failure:
    """An item that could not be loaded or stored, and why."""

    item: str
    reason: str

    def __str__(self) -> str:
        return f"{self.item}: {self.reason}"


@dataclass
class IngestReport:
    """What one ingestion did, per article."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    chunks_written: int = 0
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "failed": len(self.failed),
        }

    def summary(self) -> str:
        c = self.counts()
        line = (
            f"{c['added']} added, {c['updated']} updated, {c['unchanged']} unchanged, "
            f"{c['failed']} failed ({self.chunks_written} chunks written in {self.seconds:.1f} s)"
        )
        return "\n".join([line, *(f"  failed: {f}" for f in self.failed)])


@dataclass
class Filters:
    """Restrict retrieval to some outlets and/or a publication date range (inclusive)."""

    sources: list[str] | None = None
    date_from: str | None = None  # YYYY-MM-DD
    date_to: str | None = None

    def __post_init__(self) -> None:
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value and date_to_timestamp(value) is None:
                raise BadInput(f"{name}={value!r} is not a date; use YYYY-MM-DD")

    def to_where(self) -> dict | None:
        """The Chroma `where` clause (dates compare as integer timestamps)."""
        clauses: list[dict] = []
        if self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if self.date_from:
            clauses.append({"published_ts": {"$gte": date_to_timestamp(self.date_from)}})
        if self.date_to:
            clauses.append({"published_ts": {"$lte": date_to_timestamp(self.date_to)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def accepts(self, metadata: dict) -> bool:
        """The same test as `to_where`, in Python, for indexes that Chroma does not filter."""
        if self.sources and metadata.get("source") not in self.sources:
            return False
        ts = metadata.get("published_ts")
        if self.date_from and (ts is None or ts < date_to_timestamp(self.date_from)):
            return False
        return not (self.date_to and (ts is None or ts > date_to_timestamp(self.date_to)))

    @classmethod
    def coerce(cls, value: Filters | dict | None) -> Filters | None:
        if value is None or isinstance(value, Filters):
            return value
        return cls(**value)
