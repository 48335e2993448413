"""Retrievers: a question (and optional filters) -> scored passages. Swappable by settings.

`HybridRetriever` fuses Chroma's dense ranking with a BM25 ranking by weighted reciprocal rank,
then reranks the fused candidates with cheap, measured features: words and numbers of the question
found verbatim in the passage or its title, and, when the question has a date, how close the
article's publication date is to it ("this week" means the days before the question date).
docs/retrieval.md has the measurements behind every default in `HybridParams`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Protocol

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, InstanceOf

from vectorstore.keyword import tokenize
from vectorstore.store import NewsStore
from vectorstore.types import Filters, date_to_timestamp

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
        return [_annotated(docs[i][0], docs[i][1], info) for i, info in ranked[:k]]

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
    qday = _day(question_date)
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


def _annotated(doc: Document, sim: float, info: dict) -> tuple[Document, float]:
    meta = {**doc.metadata, "retrieval": {k: round(v, 4) for k, v in info.items()}}
    return Document(page_content=doc.page_content, metadata=meta, id=doc.id), sim


# --- rerank features ------------------------------------------------------------------------
_NAME = re.compile(r"\b(?:[A-Z][\w'’.-]*[A-Za-z0-9]|\d[\d,.]*%?)")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"“]\s+)([A-Z][\w'’.-]*)")


def question_terms(question: str) -> list[str]:
    """Names (capitalised words not at a sentence start) and numbers in the question, tokenised."""
    starts = {m.start(1) for m in _SENTENCE_START.finditer(question)}
    terms: list[str] = []
    for m in _NAME.finditer(question):
        if m.start() in starts and not m.group().isupper():
            continue
        terms += tokenize(m.group())
    return list(dict.fromkeys(terms))


def match_share(terms: list[str], text: str, title: str) -> float:
    """The share of the question's names and numbers that the passage (or its title) contains."""
    if not terms:
        return 0.0
    words = word_set(text) | word_set(title)
    return sum(t in words for t in terms) / len(terms)


def title_share(question_words: set[str], title: str) -> float:
    """The share of the question's content words (tokenised) that the article's title contains."""
    if not question_words or not title:
        return 0.0
    return len(question_words & word_set(title)) / len(question_words)


@lru_cache(maxsize=4096)
def word_set(text: str) -> frozenset[str]:
    """The text's tokens (cached: the same passages come back for related questions)."""
    return frozenset(tokenize(text))


# Words that tie a question to the date it is asked on ("this week", "yesterday", "latest").
TIME_RELATIVE = re.compile(
    r"\b(?:this|last|next|past|coming)\s+(?:week|weekend|month|year|morning|evening|night|"
    r"spring|summer|fall|autumn|winter|season|few\s+days|days)\b"
    r"|\b(?:today|tonight|yesterday|tomorrow|recently|recent|latest|lately|currently|so\s+far|"
    r"upcoming|now|this\s+(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday))\b"
    r"|\bon\s+(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)


def question_date_for(question: str, today: date | None = None) -> str | None:
    """Today's date for a question that says when ("this week", "yesterday"), else None.

    What the UI and the CLI pass by default: a time-relative question is read against today
    (the prompt's date line and the retriever's date prior), any other question is not, so an
    old story is found as well as a new one.
    """
    if not TIME_RELATIVE.search(question):
        return None
    return (today or date.today()).isoformat()


def date_prior(
    question_day: date | None, published: str, window: tuple[int, int], decay: float
) -> float:
    """1 inside the window of days before the question date, fading outside it; 0 without dates."""
    day = _day(published)
    if question_day is None or day is None:
        return 0.0
    before = (question_day - day).days
    lo, hi = window
    gap = lo - before if before < lo else (before - hi if before > hi else 0)
    return math.exp(-gap / decay) if decay > 0 else float(gap == 0)


def date_window_filters(
    filters: Filters | None, question_date: str | None, window: tuple[int, int]
) -> Filters | None:
    """`filters` narrowed to the date window before `question_date` (None without a date)."""
    qday = _day(question_date)
    if qday is None:
        return None
    start = (qday - timedelta(days=window[1])).isoformat()
    end = (qday - timedelta(days=window[0])).isoformat()
    base = filters or Filters()
    if base.date_from and date_to_timestamp(base.date_from) > date_to_timestamp(start):
        start = base.date_from
    if base.date_to and date_to_timestamp(base.date_to) < date_to_timestamp(end):
        end = base.date_to
    if date_to_timestamp(start) > date_to_timestamp(end):
        return None
    return Filters(sources=base.sources, date_from=start, date_to=end)


def _day(iso: str | None) -> date | None:
    try:
        return date.fromisoformat(iso[:10]) if iso else None
    except ValueError:
        return None


# --- construction from settings -------------------------------------------------------------
def make_retriever(store: NewsStore, settings: RetrievalSettings) -> Retriever:
    """The retriever `settings.mode` names; hybrid has the store open (and repair) its keyword
    index first."""
    if settings.mode == "dense":
        return DenseRetriever(store)
    _ = store.keyword  # opened (and repaired) now, before the first question
    return HybridRetriever(store, settings.hybrid)
