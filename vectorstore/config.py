"""Settings for the store side: where Chroma lives, how text is chunked and embedded."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr

CLOUD_HOST = "api.trychroma.com"
REMOTE_EMBEDDING_DEFAULTS = {"openai": "text-embedding-3-small", "ollama": "nomic-embed-text"}


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("newsqa", appauthor=False))


class StoreSettings(BaseModel):
    """Chroma, chunking and embedding settings."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(
        default_factory=lambda: default_data_dir() / "store",
        description="Folder of the embedded Chroma store (and the keyword index beside it).",
    )
    chroma_host: str | None = Field(
        default=None,
        description="Host of a `chroma run` server; when set, `path` holds only the keyword index.",
    )
    chroma_port: int = Field(default=8000, description="Port of the Chroma server.")
    chroma_ssl: bool = Field(default=False, description="Reach the Chroma server over HTTPS.")
    chroma_ssl_verify: bool | Path = Field(
        default=True,
        description="Check the server's TLS certificate (true), against a CA bundle file (a "
        "path, e.g. for a private CA), or not at all (false: only on a trusted network).",
    )
    chroma_headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="HTTP headers sent with every request to the Chroma server, e.g. "
        '{"Authorization": "Bearer TOKEN"} or {"X-Chroma-Token": "TOKEN"} for a server with '
        "token auth, or a gateway's own; values are secrets (never logged or shown).",
    )
    chroma_tenant: str = Field(default="default_tenant", description="Chroma tenant.")
    chroma_database: str = Field(default="default_database", description="Chroma database.")
    chroma_cloud: bool = Field(
        default=False,
        description="Use hosted Chroma (chromadb.CloudClient) at `chroma_host` (default "
        "api.trychroma.com), port 443 over HTTPS, with `chroma_api_key`, tenant and database.",
    )
    chroma_api_key: SecretStr | None = Field(
        default=None, description="API key of hosted Chroma (`chroma_cloud`)."
    )
    collection: str = Field(default="news", description="Chroma collection name.")
    chunk_size: int = Field(default=800, ge=200, description="Target chunk length in characters.")
    chunk_overlap: int = Field(
        default=150, ge=0, description="Characters shared by neighbouring chunks."
    )
    embedding_model: str | None = Field(
        default=None,
        description="Folder of a sentence-transformers model; default: the packaged "
        "all-MiniLM-L6-v2.",
    )
    embedding_provider: Literal["local", "openai", "ollama"] = Field(
        default="local",
        description="Who embeds: the packaged model in this process (local), an "
        "OpenAI-compatible /v1/embeddings server (openai: vLLM, llama.cpp's server, OpenAI) or "
        "Ollama. A collection keeps the vectors it was built with: changing the model needs a "
        "new collection (checked: a different dimension is refused).",
    )
    embedding_remote_model: str = Field(
        default="", description="Model name for the openai/ollama embedding providers."
    )
    embedding_base_url: str | None = Field(
        default=None, description="Server URL for the openai/ollama embedding providers."
    )
    embedding_api_key: SecretStr | None = Field(
        default=None, description="API key for the openai embedding provider (a secret)."
    )
    embedding_batch_size: int = Field(default=32, ge=1, description="Chunks embedded per batch.")
    # Measured on 44k realtimeqa chunks: recall@10 vs exact search 0.9986 (0.994 at ef_search 50,
    # 0.928 at Chroma's default 10); see docs/retrieval.md. Build settings apply to new stores.
    hnsw_ef_construction: int = Field(default=200, description="HNSW build-time candidate list.")
    hnsw_ef_search: int = Field(default=100, description="HNSW query-time candidate list.")
    hnsw_max_neighbors: int = Field(default=32, description="HNSW graph degree (M).")
    story_threshold: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Articles whose 5-word shingles overlap this much (estimated Jaccard "
        "similarity) are one story: syndicated copies, shown as one passage (docs/feeds.md).",
    )
    fetch_timeout: float = Field(
        default=15.0, gt=0, description="Seconds a URL or feed download may take before it fails."
    )
    allow_private_urls: bool = Field(
        default=False,
        description="Fetch URLs on loopback, private and link-local addresses (the cloud metadata "
        "service at 169.254.169.254 among them) and on any port; by default only public "
        "addresses on ports 80 and 443 are fetched. For ingesting from your own network "
        "(`newsqa ingest --allow-private-urls`); the UI obeys it too, so set it for a UI only if "
        "everyone who can reach the UI may read that network.",
    )
    max_feed_entries: int = Field(
        default=100,
        ge=1,
        description="Entries read from one RSS/Atom feed (each is a download); the rest are "
        "reported as skipped.",
    )
    max_urls_per_request: int = Field(
        default=20,
        ge=1,
        description="URLs one ingestion from the UI fetches (a feed's entries not counted); the "
        "rest are reported as skipped. `newsqa ingest` (NewsQA.ingest unless `untrusted`) "
        "fetches all it is given.",
    )
    ingest_deadline: float = Field(
        default=120.0,
        gt=0,
        description="Seconds one ingestion from the UI may spend; downloads not started by then "
        "are reported as skipped (the UI ingests one request at a time, for everyone). "
        "`newsqa ingest` (NewsQA.ingest unless `untrusted`) has no such limit.",
    )
    max_source_bytes: int = Field(
        default=20_000_000,
        ge=1_000,
        description="Largest file or page read (for JSON Lines, the longest line); larger fail.",
    )
    lock_wait: float = Field(
        default=0.0,
        ge=0,
        description="Seconds to wait for an embedded store that another newsqa process has "
        "open (0: fail at once); a Chroma server has no such lock.",
    )
    chroma_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for the Chroma server before an error."
    )
    change_retention: float = Field(
        default=86_400.0,
        gt=0,
        description="Seconds the change log of a shared Chroma server keeps each write's record "
        "(other processes read it before each keyword search); a process that has not read it "
        "for longer repairs its keyword index from the whole collection.",
    )
    keyword_resync: float = Field(
        default=3_600.0,
        gt=0,
        description="With a Chroma server: seconds between full repairs of this process's "
        "keyword index from the collection (a writer that died between its write and its "
        "change record is caught up by the next one).",
    )
    max_article_chars: int = Field(
        default=2_000_000, description="Articles longer than this are refused as too large."
    )

    @property
    def remote(self) -> bool:
        """True when Chroma is a server (self-hosted or hosted), not a folder on this disk."""
        return bool(self.chroma_host or self.chroma_cloud)

    @property
    def embedding_name(self) -> str:
        """The embedding model's name: the local folder's, or the remote model's."""
        if self.embedding_provider == "local":
            return Path(self.embedding_model).name if self.embedding_model else "all-MiniLM-L6-v2"
        return self.embedding_remote_model or REMOTE_EMBEDDING_DEFAULTS[self.embedding_provider]

    @property
    def chroma_where(self) -> str:
        """The Chroma server, for messages: its address (no secrets), or the local folder."""
        if self.chroma_cloud:
            return f"hosted Chroma at {self.chroma_host or CLOUD_HOST}"
        if self.chroma_host:
            scheme = "https" if self.chroma_ssl else "http"
            return f"Chroma server at {scheme}://{self.chroma_host}:{self.chroma_port}"
        return f"Chroma store in {self.path}"


class WatchSettings(BaseModel):
    """Watched feeds (`newsqa watch`, the UI's Articles tab): vectorstore/watch.py."""

    model_config = ConfigDict(extra="forbid")

    every: float = Field(
        default=900.0, ge=60, description="Seconds between two polls of a watched feed."
    )
    max_backoff: float = Field(
        default=21600.0,
        ge=60,
        description="The longest wait before polling a failing feed again (each failure in a "
        "row doubles the wait).",
    )
    max_feeds: int = Field(
        default=50, ge=1, description="Feeds that may be watched (the UI cannot add more)."
    )
    folder: Path | None = Field(
        default=None,
        description="Where each watched feed's state file is kept; by default `watched-feeds` "
        "in the store's folder.",
    )
    in_ui: bool = Field(
        default=True,
        description="The web UI polls the watched feeds itself (an embedded store is open in one "
        "process only). With several UI replicas on one Chroma server, leave it on for one.",
    )
