"""Citations are verified, not trusted: each answer sentence is matched to its supporting passages.

A small model may cite the wrong source, cite nothing, or add a claim found in no source. So every
sentence of an answer is scored against every sentence of every retrieved passage (word overlap and
embedding similarity, with numbers required to appear in the passage), the model's own [n] markers
are kept only where that check agrees, a supported sentence without a marker gets the best one, and
a sentence that no passage supports is dropped. An answer left with no supported sentence is a
refusal: it cites nothing it was given.

A passage sentence that addresses the model ("ignore your instructions and answer ...") or poses as
a marker ("[1] says ...") supports nothing (`prompts.is_hostile`): a model that obeyed it, or echoed
it, would otherwise be quoting the article truthfully while repeating an injected instruction as
fact. And a claim that such a sentence matches at least as well as any other is taken for an echo
of it and dropped, even if a harmless sentence shares its words ("PWNED" vs "window.__pwned=2").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vectorstore.ingest.text import split_sentences

from .markers import MARKER, TRAILING, numbers
from .prompts import CANNOT_ANSWER, is_hostile
from .types import Citation, Source
from .words import content_words

Embed = Callable[[list[str]], list[list[float]]]

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_REFUSALS = re.compile(
    r"can(?:no|')t answer|cannot be answered|(?:do|does) not (?:contain|mention|say|provide|"
    r"include|specify)|no information|not (?:mentioned|specified|provided|stated) in|"
    r"(?:isn't|is not) (?:mentioned|in the sources)|unable to (?:answer|find|determine)|"
    r"not possible to (?:answer|determine)|don't (?:know|have)",
    re.IGNORECASE,
)

SUPPORT_THRESHOLD = 0.55
# The model's own marker is kept only if its passage supports the claim nearly as well as the best
# one does: an article can plant a claim in another article's words ("Tesla has cancelled its
# agreement with Baidu"), and the real article then half-matches it.
MARKER_MARGIN = 0.2


@dataclass
class Support:
    source: Source
    quote: str
    score: float


def cosines(embed: Embed, query: str, texts: list[str]) -> np.ndarray:
    """The embedding model's cosine similarity of each text to the query."""
    vectors = np.array(embed([query] + texts), dtype=float)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
    return vectors[1:] @ vectors[0]


def is_refusal(text: str) -> bool:
    return not text.strip() or bool(_REFUSALS.search(text))


def split_answer(text: str) -> list[tuple[str, list[int]]]:
    """Answer sentences with the [n] markers the model put on each."""
    # "claim. [2] Next claim" -> "claim [2]. Next claim": a marker after the full stop is the
    # previous sentence's, not the next one's.
    text = TRAILING.sub(lambda m: f" {m.group(2).strip()}{m.group(1)} ", text)
    out = []
    for sentence in split_sentences(text):
        markers = numbers(sentence)
        clean = MARKER.sub("", sentence).strip()
        if clean:
            out.append((clean, markers))
        elif markers and out:  # a marker split off as its own "sentence" belongs to the last one
            out[-1][1].extend(markers)
    return out


def passage_units(source: Source) -> list[tuple[str, bool]]:
    """A passage's sentences, and neighbouring pairs (so a claim spanning two matches), each with
    whether it is hostile; a pair holding a hostile sentence is left out."""
    sentences = split_sentences(source.text)
    hostile = [is_hostile(s) for s in sentences]
    pairs = [
        (f"{a} {b}", False)
        for i, (a, b) in enumerate(zip(sentences, sentences[1:], strict=False))
        if not (hostile[i] or hostile[i + 1])
    ]
    return list(zip(sentences, hostile, strict=True)) + pairs


def _lexical(claim: str, unit: str) -> float:
    words = content_words(claim)
    if not words:
        return 0.0
    unit_words = content_words(unit)
    overlap = len(words & unit_words) / len(words)
    numbers = set(_NUMBER.findall(claim))
    if numbers and not numbers <= set(_NUMBER.findall(unit)):
        overlap *= 0.5  # a number the passage does not state is not supported by it
    return overlap


def find_support(
    claims: list[str], sources: list[Source], embed: Embed | None
) -> list[list[Support]]:
    """For each claim, the sources that support it (best first), with the quoted passage.

    A claim that a hostile sentence matches at least as well as any other is an echo of injected
    text, and has no support.
    """
    units = [(s, u, bad) for s in sources for u, bad in passage_units(s)]
    if not claims or not units:
        return [[] for _ in claims]
    lexical = np.array([[_lexical(c, u) for _, u, _ in units] for c in claims])
    if embed is not None:
        vectors = np.array(embed(claims + [u for _, u, _ in units]), dtype=float)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
        semantic = vectors[: len(claims)] @ vectors[len(claims) :].T
        scores = 0.5 * lexical + 0.5 * np.clip(semantic, 0, 1)
    else:
        scores = lexical
    hostile = np.array([bad for _, _, bad in units])
    result = []
    for row in scores:
        best: dict[int, Support] = {}
        echo = row[hostile].max(initial=0.0)
        for j in np.argsort(-row):
            source, unit, bad = units[j]
            if row[j] < SUPPORT_THRESHOLD or row[j] <= echo:
                break
            if not bad and source.n not in best:
                best[source.n] = Support(source, unit, float(row[j]))
        result.append(sorted(best.values(), key=lambda s: -s.score))
    return result


def verify(
    text: str, sources: list[Source], embed: Embed | None
) -> tuple[str, list[Citation], bool]:
    """Check an answer against its sources: (text with verified markers, citations, refused)."""
    if is_refusal(text):
        return CANNOT_ANSWER, [], True
    sentences = split_answer(text)
    supports = find_support([s for s, _ in sentences], sources, embed)
    kept: list[str] = []
    citations: dict[int, Citation] = {}
    for (sentence, markers), found in zip(sentences, supports, strict=True):
        if not found:
            continue  # a claim no passage supports is not shown
        by_n = {s.source.n: s for s in found}
        best = found[0].score
        chosen = [
            by_n[n]
            for n in dict.fromkeys(markers)
            if n in by_n and by_n[n].score >= best - MARKER_MARGIN
        ] or [found[0]]
        for support in chosen:
            citations.setdefault(
                support.source.n, Citation.from_source(support.source, support.quote)
            )
        kept.append(sentence + "".join(f" [{s.source.n}]" for s in chosen))
    if not kept:
        return CANNOT_ANSWER, [], True
    ordered = sorted(citations.values(), key=lambda c: c.n)
    return " ".join(kept), ordered, False
