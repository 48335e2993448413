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

from vectorstore.text import split_sentences

from .cite import Embed, content_words, split_answer

Entails = Callable[[str, str], bool]  # (premise, claim) -> does the premise support the claim?

_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"',
                         "„": '"', "–": "-", "—": "-", "−": "-"})
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+")
_MARKER = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_ARTICLES = {"a", "an", "the"}
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
NUMBER_WORDS = {w: i for i, w in enumerate(_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}


# --- answers -------------------------------------------------------------------------------
def normalize_tokens(text: str) -> list[str]:
    """Lower case, plain quotes, no punctuation or articles, number words as digits."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    text = _MARKER.sub(" ", text).replace("%", " percent ")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 12,400 -> 12400
    tokens = [t for t in _TOKEN.findall(text) if t not in _ARTICLES]
    return _number_words_to_digits(tokens)


def _number_words_to_digits(tokens: list[str]) -> list[str]:
    """"seventy six" -> "76", "two hundred five" -> "205"; larger scales stay words."""
    out: list[str] = []
    value: int | None = None
    for token in tokens:
        if token in NUMBER_WORDS:
            n = NUMBER_WORDS[token]
            if value is not None and (value % 100 == 0 and value > 0 or value % 10 == 0 and n < 10
                                      and value >= 20):
                value += n  # "seventy six", "two hundred five"
            else:
                if value is not None:
                    out.append(str(value))
                value = n
        elif token == "hundred" and value is not None and 0 < value < 10:
            value *= 100
        else:
            if value is not None:
                out.append(str(value))
                value = None
            out.append(token)
    if value is not None:
        out.append(str(value))
    return out


def normalize(text: str) -> str:
    return " ".join(normalize_tokens(text))


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


def answer_verdict(answer: str, refused: bool, golds: Sequence[str], answerable: bool,
                   shown_choices: Sequence[str] = ()) -> dict:
    """correct, f1 and truthfulness (+1 right, 0 refused, -1 wrong) of one answer.

    A refusal is the right answer to an unanswerable question (+1); any other reply to one is
    wrong (-1). When the choices were shown, an answer naming more than one of them is not right.
    """
    if not answerable:
        return {"correct": None, "f1": None, "truthfulness": 1 if refused else -1}
    hits = [c for c in shown_choices if contains_answer(answer, [c])]
    correct = not refused and contains_answer(answer, golds) and len(hits) <= 1
    f1 = 0.0 if refused else token_f1(answer, golds)
    return {"correct": correct, "f1": f1, "truthfulness": 0 if refused else (1 if correct else -1)}


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
            precise += entails(passages[m], sentence) or not entails(_join(passages, rest), sentence)
    return {
        "citation_recall": entailed / len(sentences) if sentences else 0.0,
        "citation_precision": precise / citations if citations else 0.0,
        "sentences": len(sentences), "citations": citations,
    }


def _join(passages: dict[int, str], markers: Sequence[int]) -> str:
    return "\n\n".join(passages[m] for m in markers)


class SupportJudge:
    """An offline stand-in for an NLI model: does a premise support a claim?

    Supported when every number and capitalised name of the claim appears in the premise, and
    one sentence (or two neighbouring sentences) of the premise holds at least `coverage` of the
    claim's content words, agrees with it on negation, and scores at least `threshold` on the mean
    of word coverage and embedding similarity. Checked against hand labels in docs/evaluation.md.
    """

    def __init__(self, embed: Embed | None, threshold: float = 0.7, coverage: float = 0.6):
        self.embed, self.threshold, self.coverage = embed, threshold, coverage
        self._vectors: dict[str, np.ndarray] = {}

    def __call__(self, premise: str, claim: str) -> bool:
        return self.score(premise, claim) >= self.threshold

    def score(self, premise: str, claim: str) -> float:
        """0..1; 0 when a hard check (numbers, names, coverage, negation) fails."""
        claim = _MARKER.sub("", claim).strip()
        words = _stems(claim)
        if not words or not _names_and_numbers(claim) <= _names_and_numbers(premise, names=False):
            return 0.0
        units = _units(premise)
        if not units:
            return 0.0
        coverage = np.array([len(words & _stems(u)) / len(words) for u in units])
        semantic = self._similarity(claim, units) if self.embed else coverage
        scores = 0.5 * coverage + 0.5 * np.clip(semantic, 0, 1)
        negated = _negated(claim)
        ok = (coverage >= self.coverage) & np.array([_negated(u) == negated for u in units])
        return float(scores[ok].max()) if ok.any() else 0.0

    def _similarity(self, claim: str, units: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys([claim, *units]) if t not in self._vectors]
        if missing:
            for text, v in zip(missing, np.array(self.embed(missing), dtype=float), strict=True):
                self._vectors[text] = v / (np.linalg.norm(v) + 1e-9)
        return np.array([self._vectors[u] for u in units]) @ self._vectors[claim]


_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|without)\b|n't\b", re.IGNORECASE)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]*")


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def _stems(text: str) -> set[str]:
    """Content words cut to five letters, so "agreed"/"agrees" and "collect"/"collection" meet."""
    return {w[:5] for w in content_words(unicodedata.normalize("NFKC", text).translate(_QUOTES))}


def _names_and_numbers(text: str, names: bool = True) -> set[str]:
    """Numbers (as digits) and, for a claim, its capitalised words not starting a sentence."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    found = {t for t in normalize_tokens(text) if t[0].isdigit()}
    if names:
        found |= {n.lower().replace("’", "'").split("'")[0] for n in _NAME.findall(text)}
    else:
        found |= {w.split("'")[0] for w in _TOKEN.findall(text.lower())}
    return found


def _units(premise: str) -> list[str]:
    sentences = split_sentences(premise)
    return sentences + [f"{a} {b}" for a, b in zip(sentences, sentences[1:], strict=False)]
