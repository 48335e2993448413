"""Retrievers: a question (and optional filters) -> scored passages. Swappable by settings.

`HybridRetriever` fuses Chroma's dense ranking with a BM25 ranking by weighted reciprocal rank,
then reranks the fused candidates with cheap, measured features: words and numbers of the question
found verbatim in the passage or its title, and, when the question has a date, how close the
article's publication date is to it ("this week" means the days before the question date).
docs/retrieval.md has the measurements behind every default in `HybridParams`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, InstanceOf

from vectorstore.keyword import tokenize
from vectorstore.store import NewsStore
from vectorstore.types import Filters

from .features import (
    date_prior,
    date_window_filters,
    day_of,
    match_share,
    question_terms,
    title_share,
)
from .settings import HybridParams, RetrievalSettings

Scored = list[tuple[Document, float]]


class Retriever(Protocol):
    def retrieve(
        self, query: str, k: int, filters: Filters | None = None, question_date: str | None = None
    ) -> Scored:
        """The k best passages for the query, best first, with a score (higher is better)."""
        ...


class _NewsRetriever(BaseRetriever):
    """A LangChain retriever over the store: `invoke(question, k=4, filters=..., question_date=
    ...)` gives Documents (each one's score in `metadata["score"]`), so it composes with
    LangChain (`as_tool`, chains, tracing callbacks); newsqa itself calls `retrieve`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: InstanceOf[NewsStore]
    k: int = 4

    def retrieve(
        self, query: str, k: int, filters: Filters | None = None, question_date: str | None = None
    ) -> Scored:
        """The k best passages for the query, best first, with a score (higher is better)."""
        raise NotImplementedError

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filters: Filters | None = None,
        question_date: str | None = None,
    ) -> list[Document]:
        found = self.retrieve(query, k or self.k, filters, question_date)
        return [
            Document(page_content=d.page_content, metadata={**d.metadata, "score": s}, id=d.id)
            for d, s in found
        ]


class DenseRetriever(_NewsRetriever):
    """Chroma's nearest neighbours of the question's embedding."""

    def __init__(self, store: NewsStore, **kwargs) -> None:
        super().__init__(store=store, **kwargs)

    def retrieve(
        self, query: str, k: int, filters: Filters | None = None, question_date: str | None = None
    ) -> Scored:
        return self.store.search(query, k=k, filters=filters)


@dataclass
class Candidates:
    """What the rankers found: dense (chunk, similarity) and keyword (chunk id, BM25) lists."""

    vector: list[float]
    dense: list[Scored] = field(default_factory=list)  # [global, inside the date window]
    keyword: list[list[tuple[str, float]]] = field(default_factory=list)


class HybridRetriever(_NewsRetriever):
    """Dense (Chroma) + keyword (BM25) candidates, fused by reciprocal rank, then reranked.

    Scores returned are each passage's cosine similarity to the question, so a `min_score`
    threshold keeps its dense meaning; the order is the hybrid order. Each returned Document's
    metadata gains `retrieval`: the fused score, the rerank features and the final score.
    """

    params: InstanceOf[HybridParams]

    def __init__(self, store: NewsStore, params: HybridParams | None = None, **kwargs) -> None:
        super().__init__(store=store, params=params or HybridParams(), **kwargs)

    def retrieve(
        self, query: str, k: int, filters: Filters | None = None, question_date: str | None = None
    ) -> Scored:
        found = self.candidates(query, filters, question_date)
        docs = {d.id: (d, s) for ranking in found.dense for d, s in ranking}
        fused = fuse(found, self.params)
        docs.update(self._fetch([i for i in fused if i not in docs], found.vector))
        ranked = rank(query, fused, docs, question_date, self.params)
        ranked = cap_per_article(ranked, docs, self.params.max_per_article)
        if self.params.one_per_story:
            ranked = one_per_story(ranked, docs)
        return [_annotated(docs[i][0], docs[i][1], info) for i, info in ranked[:k]]

    def idf(self, words: list[str]) -> list[float]:
        """Each word's BM25 idf in the store's keyword index (the reader weighs rare words)."""
        return self.store.keyword.idf(words)

    def candidates(
        self, query: str, filters: Filters | None, question_date: str | None
    ) -> Candidates:
        """Each ranker's best `candidates`, overall and (with a question date) in its window."""
        n = self.params.candidates
        self.store.refresh()  # other processes' writes reach the keyword index first
        found = Candidates(self.store.embeddings.embed_query(query))
        scopes = [filters]
        window = date_window_filters(filters, question_date, self.params.date_window)
        if window is not None and self.params.window_weight > 0:
            scopes.append(window)
        for scope in scopes:
            if scope is filters or self.params.window_dense:
                found.dense.append(self.store.search_dense(found.vector, n, scope))
            found.keyword.append(self.store.search_keyword(query, n, scope))
        return found

    def _fetch(self, ids: list[str], vector: list[float]) -> dict[str, tuple[Document, float]]:
        """Keyword-only candidates from Chroma, with their cosine similarity to the question."""
        return {d.id: (d, sim) for d, sim in self.store.get_scored(ids, vector)}


# --- fusion and ranking ---------------------------------------------------------------------
def rrf(
    rankings: Sequence[Sequence[str]], weights: Sequence[float], k: int = 60
) -> dict[str, float]:
    """Weighted reciprocal rank fusion: sum of weight / (k + rank), ranks from 1; best first.

    Every ranked item is kept, even one only a zero-weight ranking holds (it scores 0).
    """
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank_, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank_)
    return dict(sorted(scores.items(), key=lambda x: -x[1]))


def fuse(found: Candidates, p: HybridParams) -> dict[str, float]:
    """The rankers' lists fused by weighted RRF; the date-window lists weigh `window_weight`."""
    rankings, weights = [], []
    for n, dense in enumerate(found.dense):
        rankings.append([d.id for d, _ in dense])
        weights.append(p.dense_weight * (1.0 if n == 0 else p.window_weight))
    for n, keyword in enumerate(found.keyword):
        rankings.append([i for i, _ in keyword])
        weights.append(p.keyword_weight * (1.0 if n == 0 else p.window_weight))
    return rrf(rankings, weights, p.rrf_k)


def rank(
    query: str,
    fused: dict[str, float],
    docs: dict[str, tuple[Document, float]],
    question_date: str | None,
    p: HybridParams,
) -> list[tuple[str, dict]]:
    """Candidate ids, best first, by the fused score (scaled to 1 at best) plus the features."""
    top = max(fused.values(), default=1.0) or 1.0
    terms = question_terms(query)
    qwords = set(tokenize(query))
    qday = day_of(question_date)
    per_article: dict[str, float] = {}
    for chunk_id, score in fused.items():
        if chunk_id in docs:
            article = docs[chunk_id][0].metadata.get("article_id", chunk_id)
            per_article[article] = per_article.get(article, 0.0) + score
    top_article = max(per_article.values(), default=1.0) or 1.0
    out = []
    for chunk_id, score in fused.items():
        if chunk_id not in docs:
            continue
        info = {"fused": score / top}
        if p.rerank:
            meta, text = docs[chunk_id][0].metadata, docs[chunk_id][0].page_content
            title = meta.get("title", "")
            info["match"] = match_share(terms, text, title)
            info["title"] = title_share(qwords, title)
            info["date"] = date_prior(qday, meta.get("published", ""), p.date_window, p.date_decay)
            info["article"] = per_article[meta.get("article_id", chunk_id)] / top_article
            info["score"] = (
                info["fused"]
                + p.match_weight * info["match"]
                + p.title_weight * info["title"]
                + p.date_weight * info["date"]
                + p.article_weight * info["article"]
            )
        else:
            info["score"] = info["fused"]
        out.append((chunk_id, info))
    out.sort(key=lambda x: -x[1]["score"])
    return out


def cap_per_article(
    ranked: list[tuple[str, dict]], docs: dict, limit: int | None
) -> list[tuple[str, dict]]:
    """Keep at most `limit` passages of each article, in order (None keeps all)."""
    if not limit:
        return ranked
    seen: dict[str, int] = {}
    out = []
    for chunk_id, info in ranked:
        article = docs[chunk_id][0].metadata.get("article_id", chunk_id)
        seen[article] = seen.get(article, 0) + 1
        if seen[article] <= limit:
            out.append((chunk_id, info))
    return out


def one_per_story(ranked: list[tuple[str, dict]], docs: dict) -> list[tuple[str, dict]]:
    """Keep the passages of the first-ranked article of each story (vectorstore/stories.py):
    the other copies of a syndicated story say the same, and the source card names them."""
    chosen: dict[str, str] = {}  # story -> the article kept for it
    out = []
    for chunk_id, info in ranked:
        meta = docs[chunk_id][0].metadata
        article = meta.get("article_id", chunk_id)
        if chosen.setdefault(meta.get("story") or article, article) == article:
            out.append((chunk_id, info))
    return out


def _annotated(doc: Document, sim: float, info: dict) -> tuple[Document, float]:
    meta = {**doc.metadata, "retrieval": {k: round(v, 4) for k, v in info.items()}}
    return Document(page_content=doc.page_content, metadata=meta, id=doc.id), sim


# --- construction from settings -------------------------------------------------------------
def make_retriever(store: NewsStore, settings: RetrievalSettings) -> Retriever:
    """The retriever `settings.mode` names; hybrid has the store open (and repair) its keyword
    index first."""
    if settings.mode == "dense":
        return DenseRetriever(store)
    _ = store.keyword  # opened (and repaired) now, before the first question
    return HybridRetriever(store, settings.hybrid)
