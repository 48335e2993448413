"""Gold Q&A -> answers -> scores -> report: `newsqa eval`.

    newsqa eval --articles ../shared/data/seed/articles.jsonl --gold ../shared/data/seed/qa.jsonl \\
        --out /tmp/newsqa-eval/seed
    python -m qa.evaluate --articles ARTICLES.jsonl --gold QA.jsonl --out DIR --limit 200 \\
        --distractors 300 --compare default,extractive

Every gold question goes through `NewsQA.ask()`, as a user's would. Retrieval is scored from a
second, separate call, `qa.retriever.retrieve(question, max(10, fetch_k))`, so that hit@10 and
MRR@10 see ten ranked articles even though the model is shown only `retrieval.k` passages.
Writes DIR/results.jsonl (a line a question), DIR/summary.json and DIR/report.html; with
--compare, the same per configuration in DIR/<name>/, plus DIR/comparison.json and DIR/report.html.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from vectorstore.files import write_atomic
from vectorstore.ingest.load import load_sources
from vectorstore.types import Article, Failure

from . import metrics, report
from .chain import NewsQA
from .errors import BadInput, InvalidSettings, NewsQAError
from .eval_options import CONFIGS, JUDGES, add_eval_arguments
from .settings import Settings, get_settings
from .types import Answer, Source

RANK_DEPTH = 10  # articles ranked for hit@k and MRR@k


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


def config_settings(base: Settings, name: str) -> Settings:
    """The base settings with a named configuration's overrides laid over them."""
    if name not in CONFIGS:
        raise InvalidSettings(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")
    return get_settings(_merge(base.model_dump(), CONFIGS[name]))


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out.get(k) or {}, v) if isinstance(v, dict) else v
    return out


def make_judge(name: str, embed, settings: Settings | None = None) -> metrics.Entails:
    """The entailment judge of citation scores: lexical+embedding rules, or a local model."""
    if name == "lexical":
        return metrics.SupportJudge(embed)
    if name not in JUDGES:
        raise InvalidSettings(f"unknown judge {name!r}; choose from {', '.join(JUDGES)}")
    from .models import get_chat_model

    base = get_settings(settings)
    llm = {"provider": "local", "local_model": name, "max_tokens": 4, "model_path": None}
    return metrics.ModelJudge(get_chat_model(get_settings(_merge(base.model_dump(), {"llm": llm}))))


# --- one question ----------------------------------------------------------------------------
def evaluate_one(qa: NewsQA, gold: Gold, judge: metrics.Entails) -> dict:
    """Ask one gold question; the answer, what was retrieved, and their scores."""
    row = {
        "id": gold.id,
        "type": gold.type,
        "question": gold.asked,
        "gold": gold.answers,
        "answerable": gold.answerable,
        "evidence": gold.evidence,
        "choices_shown": gold.choices if gold.show_choices else [],
    }
    start = time.perf_counter()
    try:
        answer = qa.ask(gold.asked, question_date=gold.question_date)
    except Exception as exc:  # recorded, scored as wrong, and counted in the summary
        answer = Answer(question=gold.asked, text="", refused=False)
        row["error"] = f"{type(exc).__name__}: {exc}"
    latency = time.perf_counter() - start
    query = answer.standalone_question or gold.asked
    depth = max(RANK_DEPTH, qa.settings.retrieval.fetch_k)
    found = (
        []
        if "error" in row
        else qa.retriever.retrieve(query, depth, None, question_date=gold.question_date)
    )
    row |= {
        "answer": answer.text,
        "short_answer": answer.short_answer,
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "raw_text": answer.raw_text,
        "citations": [
            {"n": c.n, "article_id": c.article_id, "quote": c.quote} for c in answer.citations
        ],
        "sources": [
            {
                "n": s.n,
                "article_id": s.article_id,
                "title": s.title,
                "published": s.published,
                "score": round(s.score, 4),
                "evidence": s.article_id in gold.evidence,
                "text": s.text,
            }
            for s in answer.sources
        ],
        "retrieved": metrics.ranked_articles([d.metadata["article_id"] for d, _ in found])[
            :RANK_DEPTH
        ],
        "timings": {
            "latency": round(latency, 3),
            **{k: round(v, 3) for k, v in answer.timings.items()},
        },
    }
    return row | {"verdict": score_row(row, judge)}


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
    verdict = metrics.answer_verdict(
        shown, row["refused"], row["gold"], row["answerable"], choices, row.get("short_answer")
    )
    if row["answerable"]:
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
        verdict |= metrics.citation_scores(row["answer"], passages, judge)
    return verdict


# --- summary ---------------------------------------------------------------------------------
def summarize(rows: list[dict]) -> dict:
    """summary.json: the headline scores, fractions 0..1 (None where no question applies)."""
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    with_evidence = [r for r in answerable if r["evidence"]]
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
        "token_f1": mean(answerable, v("f1")),
        "refusal_accuracy": mean(unanswerable, lambda r: r["refused"]),
        "false_refusal_rate": mean(answerable, lambda r: r["refused"]),
        "truthfulness": mean(rows, v("truthfulness")),
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


# --- a run -----------------------------------------------------------------------------------
def run_config(
    qa: NewsQA, golds: list[Gold], out: Path, run: dict, progress: bool, judge: metrics.Entails
) -> dict:
    """Ask every question with one configuration; write results.jsonl, summary.json, report."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    part = out / "results.jsonl.part"  # grows while the run goes; renamed when it is complete
    with open(part, "w", encoding="utf-8") as f:
        for gold in tqdm(golds, desc=run["config"], unit="q", disable=not progress):
            rows.append(evaluate_one(qa, gold, judge))
            f.write(json.dumps(rows[-1], ensure_ascii=False) + "\n")
            f.flush()
            if len(rows) >= 5 and all("error" in r for r in rows):
                raise NewsQAError(f"the first {len(rows)} questions all failed: {rows[0]['error']}")
    part.replace(out / "results.jsonl")
    return write_summary(out, rows, run)


def write_summary(out: Path, rows: list[dict], run: dict) -> dict:
    summary = summarize_all(rows, run)
    _write_json(out / "summary.json", summary)
    report.write_report(out / "report.html", summary, rows)
    return summary


def rescore(out: Path, judge: metrics.Entails, judge_name: str) -> dict:
    """Score the answers in OUT (or OUT/<config>/) again, e.g. with another judge; no asking."""
    dirs = (
        [out]
        if (out / "results.jsonl").is_file()
        else sorted(p.parent for p in out.glob("*/results.jsonl"))
    )
    if not dirs:
        raise FileNotFoundError(f"no results.jsonl in {out} or its sub-folders")
    summaries = {}
    for d in dirs:
        rows = [json.loads(line) for line in (d / "results.jsonl").read_text("utf-8").splitlines()]
        rows = [r | {"verdict": score_row(r, judge)} for r in rows]
        (d / "results.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8"
        )
        run = json.loads((d / "summary.json").read_text("utf-8"))["run"] | {"judge": judge_name}
        summaries[run["config"]] = write_summary(d, rows, run)
    if dirs != [out]:
        order = json.loads((out / "comparison.json").read_text("utf-8"))["configs"]
        result = report.comparison({n: summaries[n] for n in order if n in summaries})
        _write_json(out / "comparison.json", result)
        report.write_comparison_report(out / "report.html", result, summaries)
        return result
    return next(iter(summaries.values()))


def run_eval(
    args: argparse.Namespace,
    settings: Settings | dict | None = None,
    *,
    embeddings=None,
    chat_model=None,
) -> int:
    """`newsqa eval`: ingest, ask, score, write results, summary and report; print a table.

    `embeddings` and `chat_model` replace the configured models (tests pass fakes).
    """
    base = get_settings(settings)
    out: Path = args.out
    names = [n.strip() for n in (args.compare or "").split(",") if n.strip()]
    store_path = getattr(args, "store", None) or out / "store"
    configs = {n: config_settings(base, n) for n in names} or {"default": base}
    configs = {
        n: get_settings(_merge(s.model_dump(), {"store": {"path": store_path}}))
        for n, s in configs.items()
    }
    golds = sample_questions(load_gold(args.gold), args.limit, args.seed)
    articles, missing = _articles(args, golds)
    progress = sys.stderr.isatty()
    first = NewsQA(next(iter(configs.values())), embeddings=embeddings)  # store shared by all
    judge = make_judge(args.judge, first.embeddings.embed_documents, base)
    ingest = first.store.ingest(articles, progress=progress, total=len(articles))
    print(f"ingest: {ingest.summary()}", file=sys.stderr)
    run = {
        "gold": str(args.gold),
        "articles": str(args.articles),
        "limit": args.limit,
        "distractors": args.distractors,
        "seed": args.seed,
        "articles_ingested": len(articles),
        "missing_evidence": missing,
        "store": str(store_path),
        "judge": args.judge,
        "ingest": {**ingest.counts(), "seconds": round(ingest.seconds, 1)},
    }
    summaries, models = {}, {}
    for name, s in configs.items():
        key = s.llm.model_dump_json()
        model = None if s.llm.provider == "extractive" else chat_model or models.get(key)
        qa = NewsQA(s, embeddings=first.embeddings, store=first.store, chat_model=model)
        if qa.chat_model is not None:
            models[key] = qa.chat_model  # one load per distinct model, not per configuration
        info = {**run, "config": name, "overrides": CONFIGS.get(name, {}), "settings": _brief(s)}
        summaries[name] = run_config(qa, golds, out / name if names else out, info, progress, judge)
        if names:  # after each configuration, so a long run shows what it has so far
            result = report.comparison(summaries)
            _write_json(out / "comparison.json", result)
            report.write_comparison_report(out / "report.html", result, summaries)
    if not names:
        result = summaries["default"]
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(report.comparison_table(result) if names else report.summary_table(result))
        print(f"\nwrote {out}/", file=sys.stderr)
    return 0


def _brief(s: Settings) -> dict:
    """The settings that decide the scores, recorded with them."""
    return {
        "retrieval": s.retrieval.model_dump(mode="json"),
        "llm": {
            k: s.llm.model_dump(mode="json")[k]
            for k in ("provider", "local_model", "reader", "model", "max_tokens", "temperature")
        },
        "embedding_model": s.store.embedding_model or "all-MiniLM-L6-v2 (packaged)",
        "chunk_size": s.store.chunk_size,
    }


def _articles(args: argparse.Namespace, golds: list[Gold]) -> tuple[list[Article], list[str]]:
    """The articles to ingest, and the evidence ids not among them (each also warned about)."""
    loaded = list(load_sources([str(args.articles)]))
    articles = select_articles(
        [x for x in loaded if isinstance(x, Article)], golds, args.distractors, args.seed
    )
    have = {a.id for a in articles}
    missing = sorted({e for g in golds for e in g.evidence} - have)
    problems = [x for x in loaded if isinstance(x, Failure)]
    for item in [*problems, *(f"evidence article {m} is not in {args.articles}" for m in missing)]:
        print(f"newsqa eval: warning: {item}", file=sys.stderr)
    return articles, missing


def _write_json(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qa.evaluate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--store", type=Path, help="store folder (default: OUT/store)")
    add_eval_arguments(parser)
    return run_eval(parser.parse_args(argv), get_settings())


if __name__ == "__main__":
    sys.exit(main())
