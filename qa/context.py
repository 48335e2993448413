"""A shorter, sharper context: each passage cut to the sentences that bear on the question.

Reading the prompt is most of a local model's answer time (about 800 tokens for four 800-character
chunks). `focus` keeps, from one passage, the sentences that share the most content words with
the question, each with its neighbours, in their original order, up to a character budget. The
source's full text is kept on the `Source` for citations and the UI; only the prompt is cut.

`pool` (`retrieval.context = "pool"`) chooses across the passages instead: every sentence of
every passage is scored by the embedding model's similarity to the question, and the best are
taken, each with its neighbours, until the prompt holds `retrieval.pool_chars` characters,
headings included. A passage none of whose sentences is chosen is not shown to the model (the
reader's checks and the citations still have it), so the budget goes where the question's answer
most likely is. docs/evaluation.md measures both ways.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vectorstore.ingest.text import split_sentences

from .cite import Embed, cosines
from .prompts import heading, prompt_text
from .reader import question_body
from .types import Source
from .words import stems

if TYPE_CHECKING:
    from .settings import RetrievalSettings

GAP = " … "


def focus(question: str, text: str, max_chars: int) -> str:
    """The question-relevant sentences of `text` with their neighbours, at most ~max_chars."""
    if len(text) <= max_chars:
        return text
    sentences = split_sentences(text)
    if len(sentences) <= 1:
        return text[:max_chars]
    want = stems(question_body(question))
    score = [len(want & stems(s)) for s in sentences]
    # Best sentences first; ties go to the earlier one (news puts the facts up front).
    order = sorted(range(len(sentences)), key=lambda i: (-score[i], i))
    kept: set[int] = set()
    for i in order:
        if score[i] == 0 and kept:
            break
        grown = kept | {j for j in (i - 1, i, i + 1) if 0 <= j < len(sentences)}
        if kept and _length(sentences, grown) > max_chars:
            continue
        kept = grown
        if _length(sentences, kept) >= max_chars:
            break
    return _join(sentences, sorted(kept))


def focus_sources(question: str, sources: list[Source], max_chars: int) -> list[Source]:
    """The sources with their text focused for the prompt (0: unchanged).

    Focused after the hostile sentences are dropped (`prompt_text`), so the budget is spent on
    what the model may read.
    """
    if max_chars <= 0:
        return sources
    return [
        s.model_copy(update={"text": focus(question, prompt_text(s.text), max_chars)})
        for s in sources
    ]


def pool(
    question: str,
    sources: list[Source],
    max_chars: int,
    embed: Embed,
    headings: str = "every",
    neighbours: int = 1,
) -> list[tuple[Source, str]]:
    """The passages worth showing, each with the text the model reads: the sentences of all the
    passages most like the question, each with `neighbours` on each side, up to `max_chars` in all
    (headings included, as `format_sources` writes them with `headings`), in their passage's
    order; passages in their given order.

    Sentences are taken after the hostile ones are dropped (`prompt_text`).
    """
    sentences = [split_sentences(prompt_text(s.text)) for s in sources]
    units = [(i, j) for i, ss in enumerate(sentences) for j in range(len(ss))]
    if not units:
        return []
    score = cosines(embed, question_body(question), [sentences[i][j] for i, j in units])
    chosen: dict[int, set[int]] = {}
    used = 0
    for u in sorted(range(len(units)), key=lambda u: (-score[u], u)):  # ties: the earlier one
        i, j = units[u]
        around = {
            k for k in range(j - neighbours, j + neighbours + 1) if 0 <= k < len(sentences[i])
        }
        new = around - chosen.get(i, set())
        cost = sum(len(sentences[i][k]) + 1 for k in new)
        if i not in chosen:  # "[n] heading\n", the blank line before
            cost += len(heading(sources[i], [sources[c] for c in chosen], headings)) + 8
        if chosen and used + cost > max_chars:
            continue
        chosen[i] = chosen.get(i, set()) | around
        used += cost
        if used >= max_chars:
            break
    return [(sources[i], _join(sentences[i], sorted(chosen[i]))) for i in sorted(chosen)]


def prompt_sources(
    question: str,
    sources: list[Source],
    context: str,
    chars: int,
    embed: Embed,
    headings: str = "every",
    neighbours: int = 1,
) -> list[Source]:
    """The passages as the model reads them, in `sources`' order and numbering: with context
    "pool", those `pool` chooses, each cut to its chosen sentences (`chars` in all); with
    "passages", every one, each focused to `chars` (`focus_sources`)."""
    if context == "pool":
        chosen = pool(question, sources, chars, embed, headings, neighbours)
        return [s.model_copy(update={"text": t}) for s, t in chosen]
    return focus_sources(question, sources, chars)


def shown_sources(
    question: str,
    sources: list[Source],
    r: RetrievalSettings,
    embed: Embed,
    context: str | None = None,
) -> list[Source]:
    """The passages as the model reads them under the retrieval settings `r` (`prompt_sources`):
    in `context` (`r.context` unless given), within `r.pool_chars` for the pool and
    `r.context_chars` a passage otherwise, with `r.headings` and `r.pool_neighbours`."""
    context = context or r.context
    chars = r.pool_chars if context == "pool" else r.context_chars
    return prompt_sources(question, sources, context, chars, embed, r.headings, r.pool_neighbours)


def _length(sentences: list[str], kept: set[int]) -> int:
    return len(_join(sentences, sorted(kept)))


def _join(sentences: list[str], kept: list[int]) -> str:
    parts: list[str] = []
    for prev, i in zip([None, *kept], kept, strict=False):
        if prev is not None:
            parts.append(" " if i == prev + 1 else GAP)
        parts.append(sentences[i])
    return "".join(parts)
