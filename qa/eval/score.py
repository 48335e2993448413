"""Scoring a results.jsonl row (answer, retrieval, citations) and summing rows up into
summary.json. Works from the rows alone, so a finished run can be scored again (`--rescore`)."""

from __future__ import annotations

from collections import Counter

from ..errors import InvalidSettings
from ..paragraph import claims_text
from ..route import ACROSS, FACT
from ..settings import Settings, get_settings
from ..types import Source
from . import metrics
from .options import JUDGES

RANK_DEPTH = 10  # articles ranked for hit@k and MRR@k


def make_judge(name: str, embed, settings: Settings | None = None) -> metrics.Entails:
    """The entailment judge of citation scores: lexical+embedding rules, or a local model."""
    if name == "lexical":
        return metrics.SupportJudge(embed)
    if name not in JUDGES:
        raise InvalidSettings(f"unknown judge {name!r}; choose from {', '.join(JUDGES)}")
    from ..models import get_chat_model

    base = get_settings(settings)
    llm = {"provider": "local", "local_model": name, "max_tokens": 4, "model_path": None}
    return metrics.ModelJudge(get_chat_model(get_settings(merge(base.model_dump(), {"llm": llm}))))


def merge(base: dict, over: dict) -> dict:
    """`over` laid over `base`, nested tables merged key by key."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out.get(k) or {}, v) if isinstance(v, dict) else v
    return out


def row_sources(row: dict) -> list[Source]:
    """The passages a results.jsonl row says the model was shown, as Sources again."""
    return [
        Source(
            n=s["n"],
            chunk_id=f"{s['article_id']}:{s['n']}",
            article_id=s["article_id"],
            title=s["title"],
            published=s.get("published") or "",
            text=s["text"],
        )
        for s in row["sources"]
    ]


def score_row(row: dict, judge: metrics.Entails) -> dict:
    """The verdicts on one results.jsonl row: answer, retrieval and (for claims) citations."""
    # The short answer is what the reader claims, so it is what is scored when there is one;
    # `text_correct` scores the whole text shown, as answers without a short answer are scored.
    shown, choices = row["answer"], row.get("choices_shown", [])
    if row.get("gold_kind", FACT) in ACROSS:
        # A question across articles has no one right answer: it is scored by which of the
        # articles it should draw on were cited, and by whether it took the paragraph path.
        cited = {c["article_id"] for c in row["citations"]}
        verdict = {
            "correct": None,
            "f1": None,
            "truthfulness": None,
            "coverage": metrics.coverage(cited, row["evidence"]),
            "articles_cited": len(cited),
            "kind_right": row.get("kind") == row["gold_kind"],
        }
    else:
        verdict = metrics.answer_verdict(
            shown, row["refused"], row["gold"], row["answerable"], choices, row.get("short_answer")
        )
    if row["answerable"] and verdict["correct"] is not None:
        text = metrics.answer_verdict(shown, row["refused"], row["gold"], True, choices)
        verdict["text_correct"] = text["correct"]
    ranked, evidence = row["retrieved"], row["evidence"]
    if evidence:
        verdict |= {
            "hit_at_5": metrics.hit_at(ranked, evidence, 5),
            "hit_at_10": metrics.hit_at(ranked, evidence, 10),
            "rr_at_10": metrics.reciprocal_rank(ranked, evidence, RANK_DEPTH),
        }
    if not row["refused"] and "error" not in row:
        passages = {s["n"]: f"{s['title']}\n{s['text']}" for s in row["sources"]}
        answer = row["answer"]
        if "coverage" in verdict:  # a timeline's dates are its articles', not claims to check
            answer = claims_text(answer)
        verdict |= metrics.citation_scores(answer, passages, judge)
    return verdict


# --- summary ---------------------------------------------------------------------------------
def summarize(rows: list[dict]) -> dict:
    """summary.json: the headline scores, fractions 0..1 (None where no question applies)."""
    across = [r for r in rows if "coverage" in r["verdict"]]
    answerable = [r for r in rows if r["answerable"] and r not in across]
    unanswerable = [r for r in rows if not r["answerable"]]
    with_evidence = [r for r in answerable + across if r["evidence"]]
    claims = [r for r in rows if "citation_recall" in r["verdict"]]
    latencies = [r["timings"]["latency"] for r in rows]
    first_tokens = [r["timings"]["first_token"] for r in rows if "first_token" in r["timings"]]

    def mean(items, value):
        return round(sum(map(float, map(value, items))) / len(items), 4) if items else None

    def v(key):
        return lambda r: r["verdict"][key]

    def pct(q):
        p = metrics.percentile(latencies, q)
        return None if p is None else round(p, 3)

    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answer_accuracy": mean(answerable, v("correct")),
        "text_accuracy": mean(answerable, lambda r: r["verdict"].get("text_correct", False)),
        # The same answers, also counting a gold answer named in another form that means the same
        # (qa.eval.metrics.equivalent): a second figure beside the strict one, never instead of it.
        "equivalent_accuracy": mean(
            answerable, lambda r: r["verdict"].get("equivalent", r["verdict"]["correct"])
        ),
        "token_f1": mean(answerable, v("f1")),
        "refusal_accuracy": mean(unanswerable, lambda r: r["refused"]),
        "false_refusal_rate": mean(answerable, lambda r: r["refused"]),
        "truthfulness": mean([r for r in rows if r not in across], v("truthfulness")),
        "across_questions": len(across),
        "coverage": mean(across, v("coverage")),
        "kind_accuracy": mean(across, v("kind_right")),
        "across_refusal_rate": mean(across, lambda r: r["refused"]),
        "across_articles_cited": mean([r for r in across if not r["refused"]], v("articles_cited")),
        "retrieval_hit_at_5": mean(with_evidence, v("hit_at_5")),
        "retrieval_hit_at_10": mean(with_evidence, v("hit_at_10")),
        "retrieval_mrr_at_10": mean(with_evidence, v("rr_at_10")),
        "citation_recall": mean(claims, v("citation_recall")),
        "citation_precision": mean(claims, v("citation_precision")),
        "answers_with_claims": len(claims),
        "latency_p50_s": pct(50),
        "latency_p95_s": pct(95),
        "first_token_p50_s": (
            round(metrics.percentile(first_tokens, 50), 3) if first_tokens else None
        ),
        "errors": sum("error" in r for r in rows),
        # The pooled reads given a second look over the passages (retrieval.widen), and how many
        # of those the second look answered.
        "second_looks": sum("widen" in r["timings"] for r in rows),
        "second_looks_answered": sum("widen" in r["timings"] and not r["refused"] for r in rows),
        "refusal_reasons": {
            "answerable": _reasons(answerable),
            "unanswerable": _reasons(unanswerable),
        },
    }


def _reasons(rows: list[dict]) -> dict[str, int]:
    """How many refusals each reason gave (qa.reader.REASONS; "unknown" for older results)."""
    counts = Counter(r.get("refusal_reason") or "unknown" for r in rows if r["refused"])
    return dict(sorted(counts.items()))


def summarize_all(rows: list[dict], run: dict) -> dict:
    """The summary, a breakdown by question type, and what was run."""
    types = sorted(Counter(r["type"] for r in rows))
    by_type = {t: summarize([r for r in rows if r["type"] == t]) for t in types}
    return {**summarize(rows), "by_type": by_type, "run": run}
