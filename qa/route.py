"""Which path a question takes: the short factual answer, or a paragraph across articles.

"Who won the election?" wants one name from one passage (qa/reader.py). "What happened with X
this week?", "How has Y changed since March?" and "What do outlets say about Z?" want several
articles told together (qa/paragraph.py). The kind is read from the question's wording alone, by
the rules below, checked first to last; a question that none of them matches is a factual one,
so the short path stays the default. docs/evaluation.md measures the rules on the labelled set in
qa/eval/sets/question-kinds.jsonl and on every realtimeqa-dev question
(scripts/bench_route.py).
"""

from __future__ import annotations

import re

FACT = "fact"
SUMMARY = "summary"
TIMELINE = "timeline"
COMPARISON = "comparison"
KINDS = (FACT, SUMMARY, TIMELINE, COMPARISON)
ACROSS = (SUMMARY, TIMELINE, COMPARISON)  # the kinds answered with a paragraph

_MONTH = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
)
_REPORTERS = (
    r"(?:outlets|sources|reports|articles|papers|newspapers|media|news outlets|reporters|"
    r"stories|coverage)"
)
_CHANGE = r"(?:change|changed|develop|developed|evolve|evolved|unfold|unfolded|progress|progressed)"

_RULES: list[tuple[str, re.Pattern]] = [
    (
        TIMELINE,
        re.compile(
            r"\btime ?line\b|\bchronolog|\bin (?:chronological |date )?order\b(?! to)"
            r"|\bstep by step\b|\bfrom start to finish\b|\bwalk me through\b|\bsequence of events\b"
            rf"|\bhow (?:has|have|did|had) \S.{{0,80}}\b{_CHANGE}\b|\bwhat led up to\b"
            rf"|^(?:what|how) (?:has|have|'s)\b.{{0,80}}"
            rf"\bsince (?:{_MONTH}|\d{{4}}|last|the start)\b"
            r"|\bover the (?:past|last) (?:few |several )?(?:days|weeks|months|years)\b"
        ),
    ),
    (
        COMPARISON,
        re.compile(
            rf"\bwhat (?:do|did|does) (?:the )?(?:different |other |various |several |the two )?"
            rf"{_REPORTERS}\b|^compare\b|\bcompare (?:the|what|how)\b|\bhow do(?:es)? .{{0,80}}"
            r"\bcompare\b|\bdiffer(?:s|ed)?\b|\bdifferent (?:accounts|reports|versions|figures)\b"
            r"|\bdisagree|\bconflicting\b|\bcontradict|\bwhat do(?:es)? .{1,60} and .{1,60} say\b"
            rf"|\bdo (?:the )?{_REPORTERS} agree\b|\bhow do\b.{{0,60}}\b(?:report|cover|describe)"
            rf"|\baccording to (?:different|various|other|each) {_REPORTERS}\b"
            rf"|\bwhat are (?:the )?{_REPORTERS} saying\b"
        ),
    ),
    (
        SUMMARY,
        re.compile(
            r"^what(?:'s| has| is| have)? (?:been )?(?:going on|happening)\b"
            r"|^what (?:has )?happened (?:with|in|at|after|over|this|last|during|since)\b"
            r"|\bsummar|\boverview\b|\bcatch me up\b|\bup to (?:date|speed)\b|\bbrief me\b"
            r"|\bthe latest (?:on|about|with|in|from)\b|\bwhat'?s the latest\b"
            r"|\bwhat'?s new (?:with|in|on|at)\b|\btell me about\b|\bnews (?:about|on|from)\b"
            r"|\b(?:main|key) (?:points|events|stories|developments)\b|\blatest developments\b"
        ),
    ),
]


# Words that ask for a kind of answer rather than name its topic ("What happened with the FTX
# collapse?" is about FTX): left out when the passages' topic is checked (qa/paragraph.py).
FRAME_WORDS = frozenset(
    "happen happened happening going latest new news timeline time line chronological "
    "chronology order events event list step start finish walk through sequence led lead "
    "change changed changes develop developed development developments evolve evolved unfold "
    "unfolded progress progressed compare comparison compared differ different disagree agree "
    "conflicting contradict outlets outlet sources source reports report articles article "
    "papers newspapers media coverage cover covered describe stories story say says said saying "
    "summarize summarise summary overview catch tell brief main key points give since past "
    "latest update updates".split()
)


def topic_words(question: str) -> str:
    """The question without the words that ask for a summary, timeline or comparison."""
    words = re.findall(r"[\w'’-]+|[^\w\s]", question)
    return " ".join(w for w in words if w.lower() not in FRAME_WORDS)


def question_kind(question: str) -> str:
    """fact, summary, timeline or comparison: what kind of answer the question asks for."""
    q = " ".join(question.lower().replace("’", "'").split())
    for kind, rule in _RULES:
        if rule.search(q):
            return kind
    return FACT
