"""Gold Q&A -> answers -> scores -> report: `newsqa eval`.

    newsqa eval --articles ../shared/data/seed/articles.jsonl --gold ../shared/data/seed/qa.jsonl \\
        --out /tmp/newsqa-eval/seed
    python -m qa.eval --articles ARTICLES.jsonl --gold QA.jsonl --out DIR --limit 200 \\
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
import sys
import time
from pathlib import Path

from tqdm import tqdm

from vectorstore.embed import make_embeddings
from vectorstore.files import write_atomic
from vectorstore.ingest.load import load_sources
from vectorstore.types import Article, Failure

from ..chain import NewsQA
from ..errors import InvalidSettings, NewsQAError
from ..settings import Settings, get_settings
from ..types import Answer
from . import metrics, report
from .gold import Gold, load_gold, sample_questions, select_articles
from .options import CONFIGS, add_eval_arguments
from .score import RANK_DEPTH, make_judge, merge, score_row, summarize_all


def config_settings(base: Settings, name: str) -> Settings:
    """The base settings with a named configuration's overrides laid over them."""
    if name not in CONFIGS:
        raise InvalidSettings(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")
    return get_settings(merge(base.model_dump(), CONFIGS[name]))


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
        "gold_kind": gold.kind,
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
        "kind": answer.kind,
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


# --- a run -----------------------------------------------------------------------------------
def run_config(
    qa: NewsQA,
    golds: list[Gold],
    out: Path,
    run: dict,
    progress: bool,
    judge: metrics.Entails,
    resume: bool = False,
) -> dict:
    """Ask every question with one configuration; write results.jsonl, summary.json, report.

    With `resume`, the answers an interrupted run left in OUT are kept (see `done_rows`).
    """
    out.mkdir(parents=True, exist_ok=True)
    part = out / "results.jsonl.part"  # grows while the run goes; renamed when it is complete
    rows = [r | {"verdict": score_row(r, judge)} for r in done_rows(out, golds, run, resume)]
    if len(rows) == len(golds) and (out / "results.jsonl").is_file():
        return write_summary(out, rows, run)  # this configuration finished before
    _write_json(out / "run.json", run)  # what the .part file was asked with, for --resume
    with open(part, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        todo = golds[len(rows) :]
        for gold in tqdm(todo, desc=run["config"], unit="q", disable=not progress):
            rows.append(evaluate_one(qa, gold, judge))
            f.write(json.dumps(rows[-1], ensure_ascii=False) + "\n")
            f.flush()
            if len(rows) >= 5 and all("error" in r for r in rows):
                raise NewsQAError(f"the first {len(rows)} questions all failed: {rows[0]['error']}")
    part.replace(out / "results.jsonl")
    return write_summary(out, rows, run)


def done_rows(out: Path, golds: list[Gold], run: dict, resume: bool) -> list[dict]:
    """The answers a former run in OUT already holds for the first of `golds`, when resuming.

    A finished results.jsonl, else the .part file of an interrupted run; only the leading rows
    whose ids follow `golds` in order and that hold no error. Settings that differ from the ones
    the rows were asked with (OUT/run.json) are an error rather than a silent mix.
    """
    if not resume:
        return []
    paths = [p for p in (out / "results.jsonl", out / "results.jsonl.part") if p.is_file()]
    if not paths:
        return []
    before = out / "run.json"
    if before.is_file():
        was = json.loads(before.read_text("utf-8"))
        changed = [k for k in ("settings", "gold", "limit", "seed") if was.get(k) != run.get(k)]
        if changed:
            raise InvalidSettings(
                f"cannot resume {out}: its answers were asked with another {', '.join(changed)}; "
                "use another --out, or leave out --resume to start again"
            )
    rows = []
    for line, gold in zip(paths[0].read_text("utf-8").splitlines(), golds, strict=False):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            break  # the line a crash cut short
        if row.get("id") != gold.id or "error" in row:
            break
        rows.append(row)
    return rows


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
    if args.rescore:
        embed = (embeddings or make_embeddings(base.store)).embed_documents
        result = rescore(args.rescore, make_judge(args.judge, embed, base), args.judge)
        _print(result, "configs" in result, args)
        return 0
    missing = [f"--{n}" for n in ("articles", "gold", "out") if getattr(args, n) is None]
    if missing:
        raise InvalidSettings(
            f"newsqa eval needs {', '.join(missing)} (or --rescore DIR, to score a run again)"
        )
    out: Path = args.out
    names = [n.strip() for n in (args.compare or "").split(",") if n.strip()]
    store_path = getattr(args, "store", None) or out / "store"
    configs = {n: config_settings(base, n) for n in names} or {"default": base}
    configs = {
        n: get_settings(merge(s.model_dump(), {"store": {"path": store_path}}))
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
        summaries[name] = run_config(
            qa, golds, out / name if names else out, info, progress, judge, args.resume
        )
        if names:  # after each configuration, so a long run shows what it has so far
            result = report.comparison(summaries)
            _write_json(out / "comparison.json", result)
            report.write_comparison_report(out / "report.html", result, summaries)
    if not names:
        result = summaries["default"]
    _print(result, bool(names), args)
    if not args.json:
        print(f"\nwrote {out}/", file=sys.stderr)
    return 0


def _print(result: dict, compared: bool, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(report.comparison_table(result) if compared else report.summary_table(result))


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
    parser = argparse.ArgumentParser(prog="python -m qa.eval", description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, help="store folder (default: OUT/store)")
    add_eval_arguments(parser)
    return run_eval(parser.parse_args(argv), get_settings())


if __name__ == "__main__":
    sys.exit(main())
