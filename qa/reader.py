"""The answer-first reader: the model names the short answer, the passages supply the sentence.

The model is asked for one line, `Answer: <the name, number, date or few words> [n]`. That line is
then checked before anything is shown:

1. topic: only passages that hold enough of the question's own words (weighted by idf) may
   answer it (`on_topic`); when none does, every reply is refused, `off_topic`, so the chain
   does not ask the model at all;
2. a refusal ("none", "I can't answer ...") is a refusal, reason `model_refused`;
3. kind: a short answer whose kind does not fit the question ("who" wants a name, "how many" a
   number, "which country" a proper name) is refused (`wrong_type`);
4. a short answer found only in passages not about the question is `off_topic` too (the
   council's bike-lane vote is no answer to a question about the library);
5. support: some sentence of an on-topic passage must state the short answer (`unsupported`);
   the one that best matches the question becomes the answer's sentence and its quoted citation.

A short answer that adds no content word to the question ("Baidu" for "What did Tesla agree with
Baidu?") gets no short answer of its own: the on-topic sentence that names it and best matches
the question is the answer, if that sentence adds to the question (else `restates_question`).

So every answer shown is a passage's own sentence that contains the model's short answer: the
model picks, the articles speak.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vectorstore.ingest.text import split_sentences

from .cite import Embed, cosines, is_refusal, passage_units
from .markers import MARKER, numbers
from .prompts import CANNOT_ANSWER, is_hostile
from .types import Citation, Source
from .words import FUNCTION_WORDS, PLAIN_WORD, initials, normalize_tokens, stems

Weigh = Callable[[list[str]], list[float]]  # words -> weights (KeywordIndex.idf)

# Refusal reasons, as Answer.refusal_reason and results.jsonl carry them.
NOTHING_RETRIEVED = "nothing_retrieved"
MODEL_REFUSED = "model_refused"
RESTATES_QUESTION = "restates_question"
WRONG_TYPE = "wrong_type"
UNSUPPORTED = "unsupported"
OFF_TOPIC = "off_topic"
REASONS = (NOTHING_RETRIEVED, MODEL_REFUSED, RESTATES_QUESTION, WRONG_TYPE, UNSUPPORTED, OFF_TOPIC)
# Reasons worth one more try: the model may find the right span when told what was wrong.
RETRY_REASONS = (RESTATES_QUESTION, WRONG_TYPE, UNSUPPORTED)
_KIND_WORDS = {
    "person": "a person's name",
    "number": "a number",
    "date": "a date",
    "name": "a name",
}

# Share of the question's content words that the cited passage and its title must hold.
MIN_TOPIC_COVERAGE = 0.4
# Share of a longer short answer's content words that its supporting sentence must hold.
MIN_ANSWER_COVERAGE = 0.75

_PREFIX = re.compile(r"^\s*(?:short\s+)?answer\s*[:\-]\s*", re.IGNORECASE)
_NONE = re.compile(
    r"^(?:none|unknown|n/?a|not (?:stated|given|known|mentioned|specified)|no answer|nothing)\W*$",
    re.IGNORECASE,
)
_TRIM = " \"'“”‘’*"
# Words that place a question in time without naming its topic; left out of topic coverage.
_TIME_WORDS = set(
    "after before over new first last week weeks year years day days month months today "
    "yesterday recently recent now".split()
)
_NUMBER_WORDS = set(
    "one two three four five six seven eight nine ten eleven twelve dozen hundred thousand million "
    "billion trillion half percent".split()
)
_ORDINALS = {
    word: str(n)
    for n, word in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split(),
        start=1,
    )
}
_MONTHS = set(
    "january february march april may june july august september october november december".split()
)


@dataclass
class Reading:
    """What the reader made of the model's line."""

    text: str
    short_answer: str | None
    citations: list[Citation]
    refused: bool
    reason: str | None = None
    kind: str | None = None  # what the question wants, when the answer was of another kind


def parse_line(raw: str) -> tuple[str, list[int]]:
    """The model's reply -> (short answer without markers, the [n] it named)."""
    lines = [line for line in raw.strip().splitlines() if line.strip()]
    line = next((x for x in lines if _PREFIX.match(x)), lines[0] if lines else "")
    markers = numbers(line)
    short = MARKER.sub("", _PREFIX.sub("", line)).strip()
    # One short answer: a reply that runs on into more sentences keeps its first.
    short = (split_sentences(short) or [""])[0]
    while short and (short[0] in _TRIM or short[-1] in _TRIM + ".;:,"):
        short = short.strip(_TRIM).rstrip(".;:,")
    return short, markers


def expected_kind(question: str) -> str | None:
    """'person', 'number', 'date' or 'name' for questions that want one; None otherwise."""
    q = " " + question.lower() + " "
    if re.search(
        r"\bhow (?:many|much|old|long|far|tall|big|large)\b|\bwhat (?:percentage|share|"
        r"percent|proportion|number)\b",
        q,
    ):
        return "number"
    if re.search(r"\b(?:in )?what year\b|\bwhen\b|\bwhat (?:date|day)\b", q):
        return "date"
    if re.search(r"(?:^|[.?!]\s)\s*who\b|\bwho (?:is|was|were|did|will|has|had)\b", q):
        return "person"
    if re.search(
        r"\b(?:which|what) (?:country|city|state|nation|company|team|airline|"
        r"president|province|capital)\b",
        q,
    ):
        return "name"
    return None


def fits_kind(short: str, kind: str | None) -> bool:
    """Whether the short answer is of the kind the question wants (lenient: a guard, no judge)."""
    if kind is None:
        return True
    words = set(PLAIN_WORD.findall(short.lower()))
    has_number = bool(re.search(r"\d", short)) or bool(words & _NUMBER_WORDS)
    if kind == "number":
        return has_number
    if kind == "date":
        return (
            has_number
            or bool(words & _MONTHS)
            or bool(
                words
                & {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
            )
        )
    # A person or a proper name: some capitalised word (names, "the Supreme Court", "NASA").
    return bool(re.search(r"\b[A-Z][\w'’.-]*", short))


def _contains(sentence_tokens: list[str], answer_tokens: list[str]) -> bool:
    n = len(answer_tokens)
    return any(sentence_tokens[i : i + n] == answer_tokens for i in range(len(sentence_tokens)))


def _coverage(short: str, sentence: str) -> float:
    """How fully a sentence states the short answer: 1.0 for the answer's words in order."""
    answer_tokens = normalize_tokens(short)
    if not answer_tokens or not _amounts(short) <= _amounts(sentence):
        return 0.0
    sentence_tokens = normalize_tokens(sentence)
    if len(answer_tokens) == 1 and answer_tokens[0].isdigit():
        # "7" times in a row is stated by "for a seventh time in a row"
        sentence_tokens = [_ORDINALS.get(t, t) for t in sentence_tokens]
    if _contains(sentence_tokens, answer_tokens):
        return 1.0
    want = stems(short)
    if not want:
        return 0.0
    return len(want & stems(sentence)) / len(want)


_AMOUNT = re.compile(r"([$£€¥])\s?(\d[\d,]*(?:\.\d+)?)|(\d[\d,]*(?:\.\d+)?)\s?(%|percent\b)")


def _amounts(text: str) -> set[str]:
    """Money and percentages as "$10", "12%": "$10" is not stated by "10 a.m."."""
    found = set()
    for sign, number, number2, _percent in _AMOUNT.findall(text):
        found.add(f"{sign}{number.replace(',', '')}" if sign else f"{number2.replace(',', '')}%")
    return found


def question_body(question: str) -> str:
    """The question without the choices appended to it ("... Choices: A, B, C")."""
    return re.split(r"\s+Choices:\s", question, maxsplit=1)[0]


def question_words(question: str) -> list[str]:
    """The question's topic words, once each, in order (its appended choices left out)."""
    found = PLAIN_WORD.findall(question_body(question).lower())
    return list(dict.fromkeys(w for w in found if w not in FUNCTION_WORDS and w not in _TIME_WORDS))


def topic_coverage(question: str, source: Source, weigh: Weigh | None = None) -> float:
    """Share of the question's content words found in the passage or its title, each word
    weighted by `weigh` (the keyword index's idf: "library" counts for more than "council")."""
    return topic_coverages(question, [source], weigh)[0]


def topic_coverages(
    question: str, sources: list[Source], weigh: Weigh | None = None
) -> list[float]:
    """`topic_coverage` of each source, the question's word weights looked up once."""
    words = question_words(question)
    weights = weigh(words) if weigh and words else [1.0] * len(words)
    total = sum(weights)
    if not total:
        return [1.0] * len(sources)
    out = []
    for source in sources:
        have = stems(f"{source.title} {source.text}")
        out.append(sum(wt for w, wt in zip(words, weights, strict=True) if w[:5] in have) / total)
    return out


def on_topic(question: str, sources: list[Source], weigh: Weigh | None = None) -> list[Source]:
    """The passages about the question, the only ones whose sentences may answer it: those
    holding MIN_TOPIC_COVERAGE of its words (`topic_coverage`). With none, `read` refuses every
    reply (`off_topic`), so the chain does not ask the model (qa/chain.py)."""
    body = question_body(question)
    coverage = topic_coverages(body, sources, weigh)
    return [s for s, c in zip(sources, coverage, strict=True) if c >= MIN_TOPIC_COVERAGE]


def candidate_sentences(short: str, sources: list[Source]) -> list[tuple[Source, str, float]]:
    """Passage sentences (or neighbouring pairs) that state the short answer, with coverage.

    Those that state it whole come first, and only they when there are any: an article that
    half-matches a planted claim does not support it. A short answer that a hostile sentence
    states as well as any other is an echo of injected text, and has no support.
    """
    need = 1.0 if len(stems(short)) < 3 else MIN_ANSWER_COVERAGE
    found, echo = [], 0.0
    for source in sources:
        for unit, hostile in passage_units(source):
            cov = _coverage(short, unit)
            if hostile:
                echo = max(echo, cov)
            elif cov >= need:
                found.append((source, unit, cov))
    if not found:  # a headline states facts too ("India or Bharat? ..."), if no sentence does
        found = [
            (s, s.title, c)
            for s in sources
            if s.title and not is_hostile(s.title) and (c := _coverage(short, s.title)) >= need
        ]
    if not found or echo >= max(c for _, _, c in found):
        return []
    best = max(c for _, _, c in found)
    found = [f for f in found if f[2] == best] if best == 1.0 else found
    # A quote is one sentence where one sentence will do; a pair only when the claim spans two.
    sentences = {
        s.n: set(split_sentences(s.text)) | {s.title}
        for s in {f[0].n: f[0] for f in found}.values()
    }
    single = [f for f in found if f[1] in sentences[f[0].n]]
    return single or found


def retry_request(reading: Reading) -> str:
    """The follow-up turn asking the model to try once more, saying what was wrong."""
    short = reading.short_answer or ""
    why = {
        RESTATES_QUESTION: f'"{short}" is already in the question, so it does not answer it.',
        WRONG_TYPE: f'"{short}" is not {_KIND_WORDS.get(reading.kind or "", "what it asks for")}.',
        UNSUPPORTED: f'No source says "{short}".',
    }[reading.reason]
    return (
        f"{why} Read the sources again. Reply with one line: 'Answer:', the words from a source "
        "that answer the question, and that source's number in square brackets; or, if no "
        "source answers it, Answer: none"
    )


def read(
    question: str,
    raw: str,
    sources: list[Source],
    embed: Embed | None,
    weigh: Weigh | None = None,
) -> Reading:
    """Check the model's `Answer: ... [n]` line against the question and the passages."""
    if not sources:
        return _refuse(NOTHING_RETRIEVED)
    short, markers = parse_line(raw)
    declined = not short or _NONE.match(short) or is_refusal(short)
    # Only passages about the question may answer it: a name found in an article on another
    # story is a coincidence, not an answer. With none, no reply can be shown (`on_topic`).
    about = on_topic(question, sources, weigh)
    if not about:
        return _refuse(OFF_TOPIC, None if declined else short)
    if declined:
        return _refuse(MODEL_REFUSED)
    body = question_body(question)
    restates = not (stems(short) - stems(body))
    kind = expected_kind(body)
    if not restates and not fits_kind(short, kind):
        return Reading(CANNOT_ANSWER, short, [], True, WRONG_TYPE, kind)
    found = candidate_sentences(short, about)
    if not found:
        off = bool(candidate_sentences(short, sources))
        return _refuse(RESTATES_QUESTION if restates else OFF_TOPIC if off else UNSUPPORTED, short)
    source, sentence = _best(body, markers, found, embed)
    # A short answer taken from the question ("Baidu" for "What did Tesla agree with Baidu?")
    # answers nothing, but the on-topic sentence that best matches the question and names it
    # may: it is shown without a short answer, and only if it adds to the question.
    if restates and not (stems(sentence) - stems(body)):
        return _refuse(RESTATES_QUESTION, short)
    citation = Citation.from_source(source, sentence)
    short = None if restates else spelled_out(short, source.text)
    return Reading(f"{sentence} [{source.n}]", short, [citation], False)


_ACRONYM = re.compile(r"[A-Z][A-Z&]{1,7}")
_SPELLED_SKIPS = frozenset({"of", "and", "for", "the", "de", "&", "on", "in"})


def spelled_out(short: str, text: str) -> str:
    """An acronym with the name the passage spells it out as: "MLP" -> "Major League Pickleball
    (MLP)" where the passage says "Major League Pickleball (MLP)"; anything else as it is."""
    if not _ACRONYM.fullmatch(short):
        return short
    for match in re.finditer(r"\(" + re.escape(short) + r"\)", text):
        words = text[: match.start()].split()[-2 * len(short) :]
        for start in range(len(words)):
            name = words[start:]
            if name[0][:1].isupper() and initials(name, _SPELLED_SKIPS) == short.replace("&", ""):
                return f"{' '.join(name)} ({short})"
    return short


def _best(
    question: str,
    markers: list[int],
    found: list[tuple[Source, str, float]],
    embed: Embed | None,
) -> tuple[Source, str]:
    """The candidate that best matches the question; the model's own [n] breaks near-ties."""
    q = stems(question)
    lexical = np.array([len(q & stems(u)) / max(1, len(q)) for _, u, _ in found])
    scores = lexical
    if embed is not None:
        semantic = cosines(embed, question, [u for _, u, _ in found])
        scores = 0.5 * lexical + 0.5 * np.clip(semantic, 0, 1)
    # Fuller statements first, then the source the model named.
    bonus = np.array([0.1 * cov + 0.05 * (src.n in markers) for src, _, cov in found])
    i = int(np.argmax(scores + bonus))
    return found[i][0], found[i][1]


def _refuse(reason: str, short: str | None = None) -> Reading:
    return Reading(CANNOT_ANSWER, short, [], True, reason)
