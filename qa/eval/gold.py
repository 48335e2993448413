"""Gold question sets: one question's record whatever the set's spelling, and the samples an
evaluation draws (questions per type in proportion, evidence articles plus distractors)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from vectorstore.types import Article

from ..errors import BadInput


@dataclass
class Gold:
    """One gold question, whatever the set's spelling of its fields."""

    id: str
    question: str
    answers: list[str]
    answerable: bool
    type: str
    evidence: list[str] = field(default_factory=list)
    question_date: str | None = None
    choices: list[str] = field(default_factory=list)
    show_choices: bool = False
    kind: str = "fact"  # a question across articles: summary, timeline or comparison (qa/route.py)

    @classmethod
    def from_record(cls, r: dict) -> Gold:
        answers = [] if r.get("answer") is None else r["answer"]
        answers = [answers] if isinstance(answers, str) else list(answers)
        answerable = bool(r.get("answerable", bool(answers)))
        kind = r.get("type") or ("short_answer" if answerable else "unanswerable")
        return cls(
            id=str(r["id"]),
            question=r["question"],
            answers=answers,
            answerable=answerable,
            type=kind,
            evidence=list(r.get("evidence_article_ids") or []),
            question_date=r.get("question_date"),
            choices=list(r.get("choices") or []),
            show_choices=kind == "needs_choices" or bool(r.get("requires_choices")),
            kind=r.get("kind") or "fact",
        )

    @property
    def asked(self) -> str:
        """The question as put to the system: with its choices when it needs them."""
        if self.show_choices and self.choices:
            return f"{self.question} Choices: {', '.join(self.choices)}"
        return self.question


def load_gold(path: Path) -> list[Gold]:
    """Gold questions from a JSON Lines file; a bad line is an error naming the line."""
    golds = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                golds.append(Gold.from_record(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise BadInput(f"{path}: line {n} is not a gold question ({exc!r})") from exc
    if not golds:
        raise BadInput(f"{path} holds no gold questions")
    return golds


def sample_questions(golds: list[Gold], limit: int | None, seed: int) -> list[Gold]:
    """`limit` questions drawn per type in proportion (largest remainder), in the file's order."""
    if not limit or limit >= len(golds):
        return golds
    groups: dict[str, list[Gold]] = {}
    for g in golds:
        groups.setdefault(g.type, []).append(g)
    exact = {t: limit * len(g) / len(golds) for t, g in groups.items()}
    quota = {t: int(x) for t, x in exact.items()}
    for t in sorted(exact, key=lambda t: (quota[t] - exact[t], t))[: limit - sum(quota.values())]:
        quota[t] += 1
    rng = random.Random(seed)
    chosen = {g.id for t in sorted(groups) for g in rng.sample(groups[t], quota[t])}
    return [g for g in golds if g.id in chosen]


def select_articles(
    articles: list[Article], golds: list[Gold], distractors: int | None, seed: int
) -> list[Article]:
    """All articles, or the evidence of these questions plus `distractors` others drawn by seed."""
    if distractors is None:
        return articles
    evidence = {a for g in golds for a in g.evidence}
    others = sorted((a for a in articles if a.id not in evidence), key=lambda a: a.id)
    picked = {a.id for a in random.Random(seed).sample(others, min(distractors, len(others)))}
    return [a for a in articles if a.id in evidence or a.id in picked]
