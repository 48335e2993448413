"""Syndicated copies: articles whose text is (nearly) the same are one story.

A wire story reprinted by several outlets, or one outlet's page stored twice, would otherwise
fill the model's context with the same passage four times. At ingestion each article gets a
MinHash signature of its 5-word shingles; an LSH index finds the stored articles whose estimated
Jaccard similarity is at least `threshold`, and the new article joins the story of the most
similar one (a story is named by the id of its first article), else starts its own.

Every chunk carries `story` in its metadata, and the article's first chunk its signature
(`minhash`), so the index is rebuilt from the store on first use, and the story of a passage is
known to every process that reads the store. Retrieval keeps one article per story
(qa/retrieve.py) and the source card names the others ("also reported by").

Measured on realtimeqa-dev in docs/feeds.md (`scripts/bench_stories.py`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

import numpy as np
from datasketch import MinHash, MinHashLSH

NUM_PERM = 128
SHINGLE_WORDS = 5
THRESHOLD = 0.8
# Texts of fewer shingles (about 55 words) are never grouped: two short items differing in one
# number ("cuts number 1", "cuts number 2") are 0.8 alike and still say different things.
MIN_SHINGLES = 50
SCHEME = "affine32"  # datasketch 2's default, named: stored signatures are compared with it
_WORD = re.compile(r"\w+")


def shingles(text: str) -> set[bytes]:
    """The text's 5-word shingles (lower-cased words, punctuation dropped)."""
    words = _WORD.findall(text.lower())
    return {
        " ".join(words[i : i + SHINGLE_WORDS]).encode()
        for i in range(max(1, len(words) - SHINGLE_WORDS + 1))
    }


def signature(text: str) -> MinHash:
    """The MinHash of the text's shingles."""
    m = MinHash(num_perm=NUM_PERM, scheme=SCHEME)
    m.update_batch(list(shingles(text)))
    return m


def encode(m: MinHash) -> str:
    """A signature as text, for Chroma metadata (its values are below 2**32)."""
    return base64.b64encode(m.hashvalues.astype("<u4").tobytes()).decode("ascii")


def decode(text: str) -> MinHash | None:
    """A signature from `encode`; None for anything else (a damaged or foreign value)."""
    try:
        values = np.frombuffer(base64.b64decode(text, validate=True), dtype="<u4")
    except (ValueError, TypeError):
        return None
    if values.size != NUM_PERM:
        return None
    return MinHash(num_perm=NUM_PERM, hashvalues=values.astype(np.uint64), scheme=SCHEME)


class StoryIndex:
    """The signatures of the stored articles, and the story each belongs to."""

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self.lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self.signatures: dict[str, MinHash] = {}
        self.story: dict[str, str] = {}

    def load(self, rows: Iterable[tuple[str, str, str]]) -> StoryIndex:
        """Take in stored (article id, story, encoded signature) rows; bad signatures skipped."""
        for article_id, story, encoded in rows:
            if (m := decode(encoded)) is not None:
                self._put(article_id, story or article_id, m)
        return self

    def assign(self, article_id: str, text: str) -> tuple[str, str]:
        """(the story `article_id` belongs to, its encoded signature), and remember both.

        A text too short to group is its own story, with no signature ("").
        """
        if article_id in self.signatures:  # a new version: matched afresh
            self.lsh.remove(article_id)
            del self.signatures[article_id]
        found = shingles(text)
        if len(found) < MIN_SHINGLES:
            self.story[article_id] = article_id
            return article_id, ""
        m = MinHash(num_perm=NUM_PERM, scheme=SCHEME)
        m.update_batch(list(found))
        best, best_score = None, self.threshold
        for other in self.lsh.query(m):
            score = m.jaccard(self.signatures[other])
            if score >= best_score:
                best, best_score = other, score
        story = self.story[best] if best is not None else article_id
        self._put(article_id, story, m)
        return story, encode(m)

    def _put(self, article_id: str, story: str, m: MinHash) -> None:
        if article_id in self.signatures:
            self.lsh.remove(article_id)
        self.lsh.insert(article_id, m)
        self.signatures[article_id], self.story[article_id] = m, story
