"""Scores for one answer against its gold question, and the offline entailment judge behind them.

Answer scores follow SQuAD (normalised containment, token F1) and CRAG (truthfulness: +1 right,
0 refused, -1 wrong); retrieval scores look for the evidence article in the ranked list of
retrieved articles; citation scores follow ALCE (Gao et al. 2023), with `SupportJudge`, a lexical
and embedding check stricter than the one `qa.cite` applies, standing in for its NLI model.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from vectorstore.ingest.text import split_sentences

from ..cite import Embed, split_answer
from ..markers import BARE
from ..words import QUOTES, TOKEN, content_words, initials, normalize, normalize_tokens

Entails = Callable[[str, str], bool]  # (premise, claim) -> does the premise support the claim?


# --- answers -------------------------------------------------------------------------------
def contains_answer(answer: str, golds: Sequence[str]) -> bool:
    """Whether the answer contains any acceptable gold answer, whole words, after normalising."""
    padded = f" {normalize(answer)} "
    return any(g and f" {g} " in padded for g in map(normalize, golds))


def token_f1(answer: str, golds: Sequence[str]) -> float:
    """SQuAD token F1, the best over the gold answers."""
    predicted = normalize_tokens(answer)
    best = 0.0
    for gold in golds:
        reference = normalize_tokens(gold)
        same = sum((Counter(predicted) & Counter(reference)).values())
        if same:
            precision, recall = same / len(predicted), same / len(reference)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def short_answer_right(short: str, text: str, golds: Sequence[str]) -> bool:
    """A short answer is right if it holds a gold answer, or if it is part of one ("Blinken" of
    "Secretary of State Antony Blinken") that the answer's sentence states in full: the reader
    sees the short answer and the sentence together, and neither names anything else."""
    if contains_answer(short, golds):
        return True
    inner = f" {normalize(short)} "
    return inner.strip() != "" and any(
        inner in f" {normalize(g)} " and contains_answer(text, [g]) for g in golds
    )


_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_VALUE = re.compile(
    r"([$£€¥])?\s*(\d+(?:\.\d+)?)\s*(thousand|million|billion|trillion)?\s*(%|percent)?"
)


def equivalent(answer: str, gold: str) -> bool:
    """Whether the answer names the gold answer in another form that means the same, by one of
    five rules: the same items in another order or joined otherwise ("China and Russia",
    "Chocolate, Chip"); the same amount written otherwise ("$12,600,000", "$12.6 million"); the
    same words but for spaces or a plural ("JP Morgan Chase", "tornadoes"); an acronym of it
    ("JFK", "UK"); or a person's full name, without the title the gold puts before it ("Volodymyr
    Zelensky" for "Ukrainian President Volodymyr Zelensky"). A part of the gold ("fusion" for
    "nuclear fusion", "New York" for "New York City") or another name for it ("Leo Messi") is not.
    """
    a, g = normalize_tokens(answer), normalize_tokens(gold)
    if not a or not g:
        return False
    return (
        (len(items := _items(answer)) > 1 and items == _items(gold))
        or ((value := _value(answer)) is not None and value == _value(gold))
        or "".join(a) == "".join(g)
        or [_singular(t) for t in a] == [_singular(t) for t in g]
        or _abbreviates(answer, gold)
        or _abbreviates(gold, answer)
        or (_full_name(answer) and len(g) > len(a) and g[-len(a) :] == a)
    )


def _items(text: str) -> set[str]:
    return {normalize(x) for x in re.split(r",|/|&|\band\b", text) if normalize(x)}


def _value(text: str) -> tuple[str, str, float] | None:
    """The one amount a short answer states, as (currency, percent, value); None otherwise."""
    found = [m for m in _VALUE.finditer(text.replace(",", "")) if m.group(2)]
    if len(found) != 1 or normalize(_VALUE.sub(" ", text.replace(",", ""))):
        return None
    sign, number, scale, percent = found[0].groups()
    return sign or "", "%" if percent else "", float(number) * _SCALES.get(scale or "", 1)


def _singular(token: str) -> str:
    if len(token) > 4 and token.endswith(("ches", "shes", "sses", "xes", "oes")):
        return token[:-2]
    return (
        token[:-1] if len(token) > 4 and token.endswith("s") and not token.endswith("ss") else token
    )


def _abbreviates(short: str, long: str) -> bool:
    """ "JFK" of "John F. Kennedy", "UK" of "United Kingdom"."""
    short = short.strip().replace(".", "")
    return bool(re.fullmatch(r"[A-Z]{2,6}", short)) and short == initials(
        re.findall(r"[A-Za-z][\w'’-]*", long)
    )


def _full_name(text: str) -> bool:
    words = text.split()
    return len(words) >= 2 and all(w[:1].isupper() for w in words)


def answer_verdict(
    answer: str,
    refused: bool,
    golds: Sequence[str],
    answerable: bool,
    shown_choices: Sequence[str] = (),
    short: str | None = None,
) -> dict:
    """correct, f1 and truthfulness (+1 right, 0 refused, -1 wrong) of one answer.

    A refusal is the right answer to an unanswerable question (+1); any other reply to one is
    wrong (-1). When the choices were shown, an answer naming more than one of them is not right.
    With a `short` answer, that is what is judged (`short_answer_right`), not the whole text.
    """
    if not answerable:
        return {"correct": None, "f1": None, "truthfulness": 1 if refused else -1}
    claim = short or answer
    hits = [c for c in shown_choices if contains_answer(claim, [c])]
    right = short_answer_right(short, answer, golds) if short else contains_answer(answer, golds)
    correct = not refused and right and len(hits) <= 1
    same = correct or (not refused and len(hits) <= 1 and any(equivalent(claim, g) for g in golds))
    f1 = 0.0 if refused else token_f1(claim, golds)
    return {
        "correct": correct,
        "equivalent": same,
        "f1": f1,
        "truthfulness": 0 if refused else (1 if correct else -1),
    }


def coverage(cited: set[str], expected: Sequence[str]) -> float:
    """The share of the articles an answer across articles should draw on that it cited."""
    return len(cited & set(expected)) / len(set(expected)) if expected else 0.0


# --- retrieval -----------------------------------------------------------------------------
def ranked_articles(article_ids: Sequence[str]) -> list[str]:
    """Chunks' article ids, best first -> distinct article ids in order of first appearance."""
    return list(dict.fromkeys(article_ids))


def hit_at(ranked: Sequence[str], evidence: Sequence[str], k: int) -> bool:
    return bool(set(ranked[:k]) & set(evidence))


def reciprocal_rank(ranked: Sequence[str], evidence: Sequence[str], k: int = 10) -> float:
    """1/rank of the first evidence article within the top k, else 0."""
    wanted = set(evidence)
    return next((1 / r for r, a in enumerate(ranked[:k], start=1) if a in wanted), 0.0)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), interpolated linearly; None for no values."""
    return float(np.percentile(values, q)) if len(values) else None


# --- citations (ALCE) ----------------------------------------------------------------------
def citation_scores(answer: str, passages: dict[int, str], entails: Entails) -> dict:
    """ALCE citation recall and precision of one answer.

    Recall: the share of answer sentences whose cited passages, together, entail the sentence.
    Precision: the share of citations that are needed: a citation on an entailed sentence counts
    unless it alone does not entail the sentence and the other citations do without it. Markers
    that point at no passage given (hallucinated) support nothing.
    """
    sentences = split_answer(answer)
    entailed = precise = citations = 0
    for sentence, markers in sentences:
        markers = list(dict.fromkeys(markers))
        citations += len(markers)
        known = all(m in passages for m in markers)
        joint = bool(markers) and known and entails(_join(passages, markers), sentence)
        entailed += joint
        if not joint:
            continue
        if len(markers) == 1:
            precise += 1
            continue
        for m in markers:
            rest = [x for x in markers if x != m]
            alone = entails(passages[m], sentence)
            precise += alone or not entails(_join(passages, rest), sentence)
    return {
        "citation_recall": entailed / len(sentences) if sentences else 0.0,
        "citation_precision": precise / citations if citations else 0.0,
        "sentences": len(sentences),
        "citations": citations,
    }


def _join(passages: dict[int, str], markers: Sequence[int]) -> str:
    return "\n\n".join(passages[m] for m in markers)


JUDGE_PROMPT = (
    "Premise:\n{premise}\n\nClaim: {claim}\n\n"
    "Does the premise alone show that the claim is true? Answer yes or no."
)


class ModelJudge:
    """A chat model as the entailment judge: asked for yes or no; verdicts cached per pair."""

    def __init__(self, model) -> None:
        self.model = model
        self._verdicts: dict[tuple[str, str], bool] = {}

    def __call__(self, premise: str, claim: str) -> bool:
        from langchain_core.messages import HumanMessage

        key = (premise, claim)
        if key not in self._verdicts:
            prompt = JUDGE_PROMPT.format(premise=premise, claim=BARE.sub("", claim).strip())
            reply = self.model.invoke([HumanMessage(prompt)])
            self._verdicts[key] = str(reply.content).strip().lower().startswith("yes")
        return self._verdicts[key]


class SupportJudge:
    """An offline stand-in for an NLI model: does a premise support a claim?

    Supported when the claim's capitalised names (or their initials, "MVP") appear in the premise
    and one sentence of it, or two neighbouring ones, states every number of the claim, holds at
    least `coverage` of its content words, agrees with it on negation and on a few opposites
    (raised/cut, won/lost, east/west), and scores at least `threshold` on the mean of word
    coverage and embedding similarity. Its agreement with hand labels is in docs/evaluation.md.
    """

    def __init__(self, embed: Embed | None, threshold: float = 0.75, coverage: float = 0.6):
        self.embed, self.threshold, self.coverage = embed, threshold, coverage
        self._vectors: dict[str, np.ndarray] = {}

    def __call__(self, premise: str, claim: str) -> bool:
        return self.score(premise, claim) >= self.threshold

    def score(self, premise: str, claim: str) -> float:
        """0..1; 0 when a hard check (names, numbers, coverage, negation, opposites) fails."""
        claim = _plain(BARE.sub("", claim)).strip()
        premise = _plain(premise)
        words = _stems(claim)
        if not words or not _names_found(claim, premise):
            return 0.0
        units = [u for u in _units(premise) if _agrees(claim, u)]
        coverage = np.array([len(words & _stems(u)) / len(words) for u in units])
        units = [u for u, c in zip(units, coverage, strict=True) if c >= self.coverage]
        if not units:
            return 0.0
        coverage = coverage[coverage >= self.coverage]
        semantic = self._similarity(claim, units) if self.embed else coverage
        return float((0.5 * coverage + 0.5 * np.clip(semantic, 0, 1)).max())

    def _similarity(self, claim: str, units: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys([claim, *units]) if t not in self._vectors]
        if missing:
            for text, v in zip(missing, np.array(self.embed(missing), dtype=float), strict=True):
                self._vectors[text] = v / (np.linalg.norm(v) + 1e-9)
        return np.array([self._vectors[u] for u in units]) @ self._vectors[claim]


_NEGATION = re.compile(
    r"\b(?:not|no(?! matter)|never|neither|nor|without|fail(?:s|ed)?)\b|n't\b", re.IGNORECASE
)
_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b[A-Z][\w'-]*")
_ACRONYM = re.compile(r"^[A-Z]{2,5}$")
_OPPOSITES = [
    ("rais", "cut"),
    ("rais", "lower"),
    ("rais", "reduc"),
    ("incre", "decre"),
    ("incre", "cut"),
    ("rose", "fell"),
    ("won", "lost"),
    ("win", "los"),
    ("beat", "lost"),
    ("appro", "rejec"),
    ("uphel", "overt"),
    ("gain", "los"),
    ("open", "clos"),
    ("east", "west"),
    ("north", "south"),
]
_ORDINALS = {
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "last",
}


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(QUOTES)


def _stems(text: str) -> set[str]:
    """Content words cut to five letters, so "agreed"/"agrees" and "collect"/"collection" meet."""
    return {w[:5] for w in content_words(normalize(text))}


def _numbers(text: str) -> set[str]:
    """Numbers (number words as digits) and ordinals: "third-quarter" is not "second-quarter"."""
    return {t for t in normalize_tokens(text) if t[0].isdigit() or t in _ORDINALS}


def _names_found(claim: str, premise: str) -> bool:
    """Every capitalised word of the claim (not starting it) is in the premise, or its initials."""
    words = set(TOKEN.findall(premise.lower()))
    initials = "".join(w[0] for w in TOKEN.findall(premise.lower()))
    for name in _NAME.findall(claim):
        if _ACRONYM.match(name) and name.lower() in initials:
            continue
        if not {t for t in TOKEN.findall(name.lower()) if len(t) > 1} <= words:
            return False
    return True


def _agrees(claim: str, unit: str) -> bool:
    """The unit states the claim's numbers, and they agree on negation and opposite verbs."""
    if not _numbers(claim) <= _numbers(unit) or _negated(claim) != _negated(unit):
        return False
    c, u = content_words(claim), content_words(unit)
    for a, b in _OPPOSITES + [(b, a) for a, b in _OPPOSITES]:
        if _has(c, a) and _has(u, b) and not _has(u, a):
            return False
    return True


def _has(words: set[str], stem: str) -> bool:
    return any(w.startswith(stem) for w in words)


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def _units(premise: str) -> list[str]:
    sentences = split_sentences(premise)
    return sentences + [f"{a} {b}" for a, b in zip(sentences, sentences[1:], strict=False)]
