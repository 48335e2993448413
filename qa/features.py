"""The rerank's features of a passage, each 0..1, and the question date's window.

- `match_share`: the question's names and numbers (`question_terms`: capitalised words and
  figures as written, sentence starts left out) found verbatim in the passage or its title;
- `title_share`: the question's BM25 terms in the title;
- `date_prior`: 1 inside the window around the question date ("this week" means the days
  before it), decaying outside; `date_window_filters` narrows a search to that window.

`question_date_for` gives today's date to a question that is relative in time ("this week",
"recently"), None to one that is not. docs/retrieval.md has the measurements.
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from functools import lru_cache

from vectorstore.keyword import tokenize
from vectorstore.types import Filters, date_to_timestamp

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
    day = day_of(published)
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
    qday = day_of(question_date)
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


def day_of(iso: str | None) -> date | None:
    try:
        return date.fromisoformat(iso[:10]) if iso else None
    except ValueError:
        return None
