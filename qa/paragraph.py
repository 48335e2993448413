"""Answers across articles: a short paragraph for a summary, a timeline or a comparison.

The question's kind (qa/route.py) sends it here. It is given one passage from each of several
articles, and the model writes 3-6 sentences with [n] markers. Then, before anything is shown:

1. topic: only passages that hold enough of the question's own words may be cited (as the short
   reader's `off_topic` check, qa/reader.py); none at all is a refusal, and the model
   is not asked;
2. support: each sentence must be supported by one of those passages (qa/cite.py's check);
   a sentence none supports is dropped. Of the passages that support it nearly as well as the
   best one, an article not yet cited is preferred, then the model's own marker, so that the
   sentences cite different articles where the passages allow; at most 2 sentences an article;
3. fill: each on-topic article still uncited adds its sentence that best matches the question,
   in its own words, in rank order, while the paragraph has fewer than 6 sentences;
4. order: a timeline is told in date order, one line an event, each led by its article's date;
5. disagreement: where two articles state one fact with different numbers (a count, a date, a
   sum), the answer says so and cites both.

By default (`llm.paragraph = "extractive"`, and always with the extractive provider) the model is
not asked: steps 3-5 make the paragraph from the passages alone, which on realtimeqa-dev cited
more of the expected articles, with more sentences supported, in a hundredth of the time
(docs/evaluation.md). `llm.paragraph = "model"` asks the model for the sentences first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from vectorstore.ingest.text import split_sentences

from .cite import Embed, Support, cosines, find_support, is_refusal, split_answer
from .prompts import CANNOT_ANSWER, is_hostile
from .reader import (
    MODEL_REFUSED,
    NOTHING_RETRIEVED,
    OFF_TOPIC,
    Reading,
    Weigh,
    on_topic,
    question_body,
)
from .route import COMPARISON, TIMELINE, topic_words
from .types import Citation, Source
from .words import stems

MIN_SENTENCES = 3
MAX_SENTENCES = 6
MAX_PER_ARTICLE = 2  # a model that retells one article at length leaves room for the others
# A passage that supports a sentence this nearly as well as the best one may be cited instead.
PREFER_MARGIN = 0.1
# Two sentences state "the same fact" when this share of their words (numbers aside) is shared.
SAME_FACT = 0.6
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_MIN_WORDS = 6  # a passage sentence shorter than this is a caption or a dateline, not a claim


@dataclass
class Claim:
    """One sentence of the paragraph and the passage that supports it."""

    text: str
    support: Support

    @property
    def date(self) -> str:
        return self.support.source.published or "9999"  # undated events last


def about(question: str, sources: list[Source], weigh: Weigh | None = None) -> list[Source]:
    """The passages about the question's topic (its words less what kind of paragraph it asks
    for): the only ones the paragraph may quote. With none, `compose` refuses whatever the model
    wrote (`off_topic`), so the chain does not ask it (qa/chain.py)."""
    return on_topic(topic_words(question_body(question)), sources, weigh)


def compose(
    question: str,
    kind: str,
    raw: str | None,
    sources: list[Source],
    embed: Embed | None,
    weigh: Weigh | None = None,
) -> Reading:
    """The paragraph for `question` from the model's reply `raw` (None: from the passages alone)."""
    if not sources:
        return Reading(CANNOT_ANSWER, None, [], True, NOTHING_RETRIEVED)
    body = question_body(question)
    on_topic = about(question, sources, weigh)
    if not on_topic:
        return Reading(CANNOT_ANSWER, None, [], True, OFF_TOPIC)
    if raw is not None and is_refusal(raw):
        return Reading(CANNOT_ANSWER, None, [], True, MODEL_REFUSED)
    claims = _spread(_supported(raw, on_topic, embed)) if raw else []
    claims += _fill(body, claims, on_topic, embed)
    if not claims:
        return Reading(CANNOT_ANSWER, None, [], True, OFF_TOPIC)
    conflict = disagreement(on_topic, claims if kind != COMPARISON else None)
    if conflict is not None and kind != TIMELINE:  # the disagreement tells those sentences
        claims = [c for c in claims if c.support.quote not in {x.quote for x in conflict}]
    claims = claims[: MAX_SENTENCES - (conflict is not None)]  # the disagreement is one more
    if kind == TIMELINE:
        claims.sort(key=lambda c: c.date)  # stable: same-day events keep the model's order
        lines = [f"{_day(c)}{c.text} [{c.support.source.n}]" for c in claims]
        text = "\n".join(lines)
    else:
        text = " ".join(f"{c.text} [{c.support.source.n}]" for c in claims)
    if conflict is not None:
        a, b = conflict
        text += "\n" if kind == TIMELINE else " "
        text += (
            f"The articles differ here: {_who(a.source)} says “{_quoted(a.quote)}” "
            f"[{a.source.n}], while {_who(b.source)} says “{_quoted(b.quote)}” [{b.source.n}]."
        )
        claims += [Claim(a.quote, a), Claim(b.quote, b)]
    citations: dict[int, Citation] = {}
    for c in claims:
        src = c.support.source
        citations.setdefault(src.n, Citation.from_source(src, c.support.quote))
    return Reading(text, None, sorted(citations.values(), key=lambda c: c.n), False)


def _supported(raw: str, sources: list[Source], embed: Embed | None) -> list[Claim]:
    """The model's sentences that a passage supports, each with the passage it cites.

    A sentence that joins two facts ("The library reopened, and Moreau was elected mayor") is
    rarely supported whole by one passage: if it is not, each of its clauses is checked alone.
    """
    sentences = split_answer(raw)
    # A headline states its article's main fact, and a model often retells it: it may support.
    titled = [
        s.model_copy(update={"text": f"{s.title.rstrip('.')}.\n\n{s.text}"})
        if s.title and not is_hostile(s.title)
        else s
        for s in sources
    ]
    original = {s.n: s for s in sources}
    found = _untitled(find_support([s for s, _ in sentences], titled, embed), original)
    parts: list[tuple[str, list[int], list[Support]]] = []
    split: list[tuple[int, str, list[int]]] = []
    for i, ((sentence, markers), supports) in enumerate(zip(sentences, found, strict=True)):
        parts.append((sentence, markers, supports))
        if not supports:
            split += [(i, c, markers) for c in _clauses(sentence)]
    if split:
        more = _untitled(find_support([c for _, c, _ in split], titled, embed), original)
        by_sentence: dict[int, list] = {}
        for (i, clause, markers), supports in zip(split, more, strict=True):
            by_sentence.setdefault(i, []).append((clause, markers, supports))
        parts = [
            p
            for i, whole in enumerate(parts)
            for p in (by_sentence.get(i, []) if not whole[2] else [whole])
        ]
    claims: list[Claim] = []
    cited: set[str] = set()
    quotes: set[str] = set()
    for sentence, markers, supports in parts:
        if not supports or sentence.rstrip("\"”’'").endswith("?"):
            continue  # a claim no passage supports is not shown, and a question claims nothing
        best = supports[0].score
        near = [s for s in supports if s.score >= best - PREFER_MARGIN]
        pick = min(
            near,
            key=lambda s: (s.source.article_id in cited, s.source.n not in markers, -s.score),
        )
        if pick.quote in quotes or _repeats(sentence, claims):
            continue  # the same passage sentence told twice is said once
        claims.append(Claim(_sentence(sentence), pick))
        cited.add(pick.source.article_id)
        quotes.add(pick.quote)
    return claims


def _untitled(found: list[list[Support]], original: dict[int, Source]) -> list[list[Support]]:
    return [[Support(original[x.source.n], x.quote, x.score) for x in row] for row in found]


_JOINS = re.compile(r";\s+|,\s+(?:and|while|but|as)\s+|\s+and\s+(?=[A-Z])")


def _clauses(sentence: str) -> list[str]:
    """A sentence's clauses that could stand alone (five words or more); [] if it has one."""
    parts = [p.strip(" ,;") for p in _JOINS.split(sentence)]
    parts = [p for p in parts if len(p.split()) >= 5]
    return parts if len(parts) > 1 else []


def _sentence(text: str) -> str:
    """A clause as a sentence: a capital first, a full stop last, a list's number dropped."""
    text = re.sub(r"^\s*(?:\d+[.)]|[-*•])\s+", "", text).strip()
    text = text[:1].upper() + text[1:]
    return text if text[-1:] in ".!?\"”’'" else text + "."


def _spread(claims: list[Claim]) -> list[Claim]:
    """The claims, at most `MAX_PER_ARTICLE` citing any one article (the first ones kept)."""
    count: dict[str, int] = {}
    kept = []
    for c in claims:
        article = c.support.source.article_id
        count[article] = count.get(article, 0) + 1
        if count[article] <= MAX_PER_ARTICLE:
            kept.append(c)
    return kept


def _fill(
    question: str, claims: list[Claim], sources: list[Source], embed: Embed | None
) -> list[Claim]:
    """A sentence from each on-topic article not yet cited, in rank order, while the paragraph
    has fewer than `MAX_SENTENCES`: a paragraph across articles should draw on all of them."""
    cited = {c.support.source.article_id for c in claims}
    room = MAX_SENTENCES - len(claims)
    added: list[Claim] = []
    for source in sources:
        if len(added) >= room:
            break
        if source.article_id in cited:
            continue
        best = _best_sentence(question, source, embed)
        if best is not None and not _repeats(best, claims + added):
            added.append(Claim(best, Support(source, best, 1.0)))
            cited.add(source.article_id)
    return added


def _best_sentence(question: str, source: Source, embed: Embed | None) -> str | None:
    """The passage's sentence that best matches the question among those that name its topic.

    A passage from further down an article may name no topic word: then its headline stands for
    it, when the headline is a whole statement ("Northfield Public Library to reopen Saturday
    after 18-month renovation"), else the passage's best sentence, its headline naming the topic.
    None when neither the passage nor its headline is about the question.
    """
    topic = stems(topic_words(question))
    statements = [
        s
        for s in split_sentences(source.text)
        if len(s.split()) >= _MIN_WORDS
        and not is_hostile(s)
        and s.rstrip("\"”’'")[-1:] in ".!"  # a statement: a question or a fragment claims nothing
    ]
    units = [s for s in statements if topic & stems(s)]
    title = " ".join(source.title.split())
    if not units and title and not is_hostile(title) and topic & stems(title):
        if len(title.split()) >= _MIN_WORDS and not _CUT_HEADLINE.search(title):
            return title.rstrip(".") + "."
        units = statements
    if not units:
        return None
    q = stems(question)
    scores = np.array([len(q & stems(u)) / max(1, len(q)) for u in units])
    if embed is not None:
        scores = 0.5 * scores + 0.5 * np.clip(cosines(embed, question, units), 0, 1)
    # A news story tells its main facts first: the earlier sentences lead.
    scores = scores - 0.03 * np.arange(len(units))
    return units[int(np.argmax(scores))]


_CUT_HEADLINE = re.compile(r"\.\.\.|…|\||\?$|:\s")  # cut short, a site's name, a question, a kicker


def _repeats(sentence: str, claims: list[Claim]) -> bool:
    words = stems(sentence)
    return any(words and len(words & stems(c.text)) / len(words) >= 0.8 for c in claims)


def disagreement(
    sources: list[Source], claims: list[Claim] | None = None
) -> tuple[Support, Support] | None:
    """Two articles' sentences that state one fact with different numbers, if any.

    With `claims`, only a disagreement with a sentence the answer already cites is looked for;
    without (a comparison), any two of the passages' sentences. The closest pair wins.
    """
    units = [
        (s, u)
        for s in sources
        for u in split_sentences(s.text)
        if _NUMBER.search(u) and not is_hostile(u) and len(u.split()) >= _MIN_WORDS
    ]
    anchors = units if claims is None else [(c.support.source, c.support.quote) for c in claims]
    best, pair = SAME_FACT, None
    for sa, ua in anchors:
        na, wa = _numbers(ua), _words(ua)
        if not na or not wa:
            continue
        for sb, ub in units:
            if sb.article_id == sa.article_id:
                continue
            nb, wb = _numbers(ub), _words(ub)
            if not nb or na == nb or not (na - nb and nb - na):
                continue
            shared = len(wa & wb) / len(wa | wb)
            if shared >= best and len(wa & wb) >= 4:
                best, pair = shared, (sa, ua, sb, ub)
    if pair is None:
        return None
    sa, ua, sb, ub = pair
    first, second = sorted([(sa, ua), (sb, ub)], key=lambda x: (x[0].published, x[0].n))
    return Support(first[0], first[1], 1.0), Support(second[0], second[1], 1.0)


def _quoted(sentence: str) -> str:
    """A sentence as quoted inside another: its full stop dropped, so that the line stays one."""
    return sentence[:-1] if sentence.endswith(".") else sentence


_DATE_HEAD = re.compile(r"^\d{4}-\d{2}-\d{2}: ", re.MULTILINE)
_DIFFER = re.compile(
    r"The articles differ here: .*? says “(.*?)” (\[\d+\]), while .*? says “(.*?)” (\[\d+\])\."
)


def claims_text(text: str) -> str:
    """A paragraph as the claims it makes from its passages, for a judge of citations: a
    timeline's leading dates (its articles' dates) dropped, and a disagreement as its two quotes,
    each with its own [n]."""
    return _DIFFER.sub(r"\1. \2 \3. \4", _DATE_HEAD.sub("", text))


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def _words(text: str) -> set[str]:
    return stems(_NUMBER.sub(" ", text))


def _day(claim: Claim) -> str:
    d = claim.support.source.published
    return f"{d}: " if d else ""


def _who(source: Source) -> str:
    details = ", ".join(x for x in (source.source, source.published) if x)
    return details or source.title or f"source [{source.n}]"
