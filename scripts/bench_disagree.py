"""Where articles on one story give different figures: what qa/paragraph.py would say differs.

    .venv/bin/python scripts/bench_disagree.py \\
        --articles ../shared/data/realtimeqa-dev/articles.jsonl --threshold 0.6

Articles are grouped by a word in their title (`--topic`, repeatable; by default the topics of
qa/eval/sets/multi-article.jsonl), published from `--since` on. Every two articles of a group are
passed to `paragraph.disagreement` as a comparison would pass them, and each pair it flags is
printed with the two sentences, to be read by hand; docs/evaluation.md has the reading.
"""

from __future__ import annotations

import argparse
import json
import sys
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa import paragraph  # noqa: E402
from qa.types import Source  # noqa: E402

TOPICS = [
    "FTX", "Artemis", "Truss", "Title 42", "balloon", "Damar Hamlin", "Monkeypox",
    "Queen Elizabeth", "Sri Lanka", "Boris Johnson", "Webb", "Brittney Griner", "Pelosi",
    "Mar-a-Lago", "Sunak", "earthquake", "Uvalde",
]  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--articles", type=Path, required=True)
    p.add_argument("--topic", action="append", dest="topics")
    p.add_argument("--since", default="2022-01-01")
    p.add_argument("--threshold", type=float, default=paragraph.SAME_FACT)
    p.add_argument("--chars", type=int, default=6000, help="characters of each article read")
    args = p.parse_args()
    paragraph.SAME_FACT = args.threshold
    articles = [json.loads(line) for line in args.articles.open(encoding="utf-8")]
    pairs = flagged = 0
    for topic in args.topics or TOPICS:
        group = [
            Source(
                n=i,
                chunk_id=f"{a['id']}:0",
                article_id=a["id"],
                title=a["title"],
                source=a.get("source") or "",
                published=a.get("published") or "",
                text=a["text"][: args.chars],
            )
            for i, a in enumerate(articles, 1)
            if topic.lower() in a["title"].lower() and (a.get("published") or "") >= args.since
        ]
        for x, y in combinations(group, 2):
            pairs += 1
            found = paragraph.disagreement([x, y])
            if found is None:
                continue
            flagged += 1
            for head, s in zip((topic, ""), found, strict=True):
                print(f"{head:<16}{s.source.source}, {s.source.published}: {s.quote[:200]}")
            print()
    print(f"threshold {args.threshold}: {flagged} of {pairs} article pairs flagged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
