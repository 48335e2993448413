"""Retrievers: a question (and optional filters) -> scored passages. Swappable by settings."""

from __future__ import annotations

from typing import Protocol

from langchain_core.documents import Document

from vectorstore.store import NewsStore
from vectorstore.types import Filters


class Retriever(Protocol):
    def retrieve(self, query: str, k: int, filters: Filters | None = None
                 ) -> list[tuple[Document, float]]:
        """The k best passages for the query, best first, with a score (higher is better)."""
        ...


class DenseRetriever:
    """Chroma's nearest neighbours of the question's embedding."""

    def __init__(self, store: NewsStore) -> None:
        self.store = store

    def retrieve(self, query: str, k: int, filters: Filters | None = None
                 ) -> list[tuple[Document, float]]:
        return self.store.search(query, k=k, filters=filters)
