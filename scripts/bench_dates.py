"""Does passing today's date by default hurt questions about older articles? Retrieval only.

    .venv/bin/python scripts/bench_dates.py --store /tmp/nq/rtqa-store \\
        --gold ../shared/data/realtimeqa-dev/qa.jsonl --limit 200 --seed 0 [--today 2026-12-02]

Asks each answerable gold question of an existing store (one `newsqa eval` filled) four ways
and prints hit@5 / MRR@10 of the evidence articles for each:
- `gold date`: the quiz's own question date (what `newsqa eval` passes);
- `no date`: no question date at all;
- `today, all`: today's date for every question;
- `today, when asked` (the UI and CLI default): today's date only for a question that says when
  ("this week", "recently"; `qa.features.question_date_for`), none for the others.
The realtimeqa articles are from 2012-2023, so "today" is years after all of them.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.chain import NewsQA  # noqa: E402
from qa.eval import metrics  # noqa: E402
from qa.eval.gold import load_gold, sample_questions  # noqa: E402
from qa.eval.options import add_sample_arguments  # noqa: E402
from qa.features import question_date_for  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_sample_arguments(parser)
    parser.add_argument("--today", type=date.fromisoformat, default=date.today())
    args = parser.parse_args()
    qa = NewsQA({"store": {"path": args.store}, "llm": {"provider": "extractive"}})
    golds = [g for g in sample_questions(load_gold(args.gold), args.limit, args.seed) if g.evidence]
    policies = {
        "gold date": lambda g: g.question_date,
        "no date": lambda g: None,
        "today, all": lambda g: args.today.isoformat(),
        "today, when asked": lambda g: question_date_for(g.asked, args.today),
    }
    relative = sum(question_date_for(g.asked) is not None for g in golds)
    print(f"{len(golds)} answerable questions, {relative} of them time-relative\n")
    print(f"{'policy':20}  hit@5   MRR@10")
    for name, when in policies.items():
        hits, rr = [], []
        for g in golds:
            found = qa.retriever.retrieve(g.asked, 20, None, question_date=when(g))
            ranked = metrics.ranked_articles([d.metadata["article_id"] for d, _ in found])
            hits.append(metrics.hit_at(ranked, g.evidence, 5))
            rr.append(metrics.reciprocal_rank(ranked, g.evidence, 10))
        print(f"{name:20}  {sum(hits) / len(hits):.3f}  {sum(rr) / len(rr):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
