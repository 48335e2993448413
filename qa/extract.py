"""An extractive answer with no chat model: the source sentence that best answers the question.

Each retrieved passage is split into sentences; each sentence is scored by embedding similarity to
the question plus the share of the question's content words it holds; the best one is returned
verbatim with its [n]. Fast (under a second), and it never says what no source says.
"""

from __future__ import annotations

import numpy as np

from vectorstore.ingest.text import split_sentences

from .cite import Embed, cosines
from .types import Source
from .words import content_words

MIN_SCORE = 0.45


def best_sentences(
    question: str, sources: list[Source], embed: Embed, top: int = 1
) -> list[tuple[Source, str, float]]:
    """The `top` sentences that best answer the question, with their source and score."""
    candidates = [(s, sentence) for s in sources for sentence in split_sentences(s.text)]
    if not candidates:
        return []
    semantic = cosines(embed, question, [c[1] for c in candidates])
    words = content_words(question)
    lexical = np.array(
        [len(words & content_words(sentence)) / max(1, len(words)) for _, sentence in candidates]
    )
    scores = 0.6 * semantic + 0.4 * lexical
    order = np.argsort(-scores)[:top]
    return [(candidates[i][0], candidates[i][1], float(scores[i])) for i in order]


def extractive_answer(question: str, sources: list[Source], embed: Embed) -> str:
    """The best source sentence with its marker, or an empty string when none answers."""
    best = [b for b in best_sentences(question, sources, embed) if b[2] >= MIN_SCORE]
    return " ".join(f"{sentence} [{source.n}]" for source, sentence, _ in best)
