"""A shorter, sharper context: each passage cut to the sentences that bear on the question.

Reading the prompt is most of a local model's answer time (about 800 tokens for four 800-character
chunks). `focus` keeps, from one passage, the sentences that share the most content words with
the question, each with its neighbours, in their original order, up to a character budget. The
source's full text is kept on the `Source` for citations and the UI; only the prompt is cut.
"""

from __future__ import annotations

from vectorstore.ingest.text import split_sentences

from .prompts import prompt_text
from .reader import question_body
from .types import Source
from .words import stems

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


def _length(sentences: list[str], kept: set[int]) -> int:
    return len(_join(sentences, sorted(kept)))


def _join(sentences: list[str], kept: list[int]) -> str:
    parts: list[str] = []
    for prev, i in zip([None, *kept], kept, strict=False):
        if prev is not None:
            parts.append(" " if i == prev + 1 else GAP)
        parts.append(sentences[i])
    return "".join(parts)
