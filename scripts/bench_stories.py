"""Syndicated copies on a real corpus: how many stories group, which pairs, and retrieval's hit@5.

    .venv/bin/python scripts/bench_stories.py groups \\
        --articles ../shared/data/realtimeqa-dev/articles.jsonl --pairs /tmp/nq/pairs.jsonl
    .venv/bin/python scripts/bench_stories.py retrieval --store /tmp/nq/rtqa-store \\
        --gold ../shared/data/realtimeqa-dev/qa.jsonl --limit 200 --seed 0

`groups` runs the ingestion's story index (vectorstore/stories.py) over every article in the
order given and prints the groups: their sizes, how many span outlets, how many hold one text
word for word. It writes `--pairs` (each grouped article beside its story's first article,
shuffled with `--seed`) to be checked by hand; docs/feeds.md has the check of the first 50.

`retrieval` works on a copy of an existing store (one `newsqa eval` filled): it gives every
stored article its story, as ingestion now does (from its chunks joined, so no embedding is
redone), then asks each answerable gold question with one passage per story and without, and
prints hit@5 and MRR@10 of the evidence articles: strictly, and counting another copy of the
evidence's story as found.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.eval.options import add_sample_arguments  # noqa: E402
from vectorstore.stories import StoryIndex  # noqa: E402


def groups(args) -> int:
    articles = [json.loads(line) for line in args.articles.open(encoding="utf-8")]
    index = StoryIndex(args.threshold)
    start = time.perf_counter()
    for a in articles:
        index.assign(a["id"], a["text"])
    seconds = time.perf_counter() - start
    by_id = {a["id"]: a for a in articles}
    members = defaultdict(list)
    for article_id, story in index.story.items():
        members[story].append(article_id)
    grouped = {s: ids for s, ids in members.items() if len(ids) > 1}
    sizes = Counter(len(ids) for ids in grouped.values())
    outlets = sum(len({by_id[i]["source"] for i in ids}) > 1 for ids in grouped.values())
    same_text = sum(len({by_id[i]["text"] for i in ids}) == 1 for ids in grouped.values())
    print(
        f"{len(articles)} articles in {seconds:.1f} s "
        f"({1000 * seconds / len(articles):.1f} ms each)"
    )
    print(f"threshold {args.threshold}: {len(grouped)} stories of 2 or more articles, holding")
    print(
        f"  {sum(len(i) for i in grouped.values())} articles; sizes {dict(sorted(sizes.items()))}"
    )
    print(f"  {outlets} span more than one outlet; {same_text} are one text word for word")
    for story, ids in sorted(grouped.items(), key=lambda kv: -len(kv[1]))[: args.show]:
        first = by_id[story]
        print(f"- {len(ids)} x {first['source']}: {first['title'][:70]!r} / {first['text'][:60]!r}")
    pairs = [(story, i) for story, ids in grouped.items() for i in ids if i != story]
    random.Random(args.seed).shuffle(pairs)
    if args.pairs:
        with args.pairs.open("w", encoding="utf-8") as out:
            for story, other in pairs:
                a, b = by_id[story], by_id[other]
                row = {
                    "a": {k: a[k] for k in ("id", "source", "published", "title")},
                    "b": {k: b[k] for k in ("id", "source", "published", "title")},
                    "same_text": a["text"] == b["text"],
                    "a_text": a["text"][:400],
                    "b_text": b["text"][:400],
                }
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{len(pairs)} pairs written to {args.pairs}")
    return 0


def retrieval(args) -> int:
    from qa.chain import NewsQA
    from qa.eval import metrics
    from qa.eval.gold import load_gold, sample_questions

    work = Path(tempfile.mkdtemp(prefix="bench-stories-"))
    try:
        shutil.copytree(args.store, work / "store", ignore=shutil.ignore_patterns(".lock"))
        qa = NewsQA({"store": {"path": work / "store"}, "llm": {"provider": "extractive"}})
        store = qa.store
        chunks = defaultdict(list)
        for doc in store.iter_chunks():
            chunks[doc.metadata["article_id"]].append(doc)
        index = StoryIndex(args.threshold)
        story_of = {}
        for article_id in sorted(chunks):  # the order they would have been ingested in
            docs = sorted(chunks[article_id], key=lambda d: d.metadata.get("chunk", 0))
            story_of[article_id], _ = index.assign(
                article_id, " ".join(d.page_content for d in docs)
            )
        ids = [d.id for docs in chunks.values() for d in docs]
        metas = [
            {**d.metadata, "story": story_of[d.metadata["article_id"]]}
            for docs in chunks.values()
            for d in docs
        ]
        for i in range(0, len(ids), 2000):
            store.collection.update(ids=ids[i : i + 2000], metadatas=metas[i : i + 2000])
        grouped = Counter(story_of.values())
        print(
            f"{len(chunks)} stored articles, {sum(n > 1 for n in grouped.values())} stories of 2+"
        )
        asked = sample_questions(load_gold(args.gold), args.limit, args.seed)
        golds = [g for g in asked if g.evidence]
        shown = {}  # what the model would read: the passages `newsqa eval` passes it
        print(f"{len(golds)} answerable questions\n")
        print(f"{'retrieval':22}  hit@5   MRR@10  hit@5 (a copy counts)")
        for name, on in (("all passages", False), ("one per story", True)):
            qa.retriever.params.one_per_story = on
            hits, rr, story_hits = [], [], []
            for g in golds:
                found = qa.retriever.retrieve(g.asked, 20, None, question_date=g.question_date)
                ranked = metrics.ranked_articles([d.metadata["article_id"] for d, _ in found])
                hits.append(metrics.hit_at(ranked, g.evidence, 5))
                rr.append(metrics.reciprocal_rank(ranked, g.evidence, 10))
                wanted = {story_of.get(e, e) for e in g.evidence}
                story_hits.append(any(story_of.get(a, a) in wanted for a in ranked[:5]))
            n = len(golds)
            print(f"{name:22}  {sum(hits) / n:.3f}  {sum(rr) / n:.3f}   {sum(story_hits) / n:.3f}")
            shown[on] = [
                [
                    s.chunk_id
                    for s in qa._retrieve({"question": g.asked, "question_date": g.question_date})[
                        "sources"
                    ]
                ]
                for g in asked
            ]
        changed = sum(a != b for a, b in zip(shown[False], shown[True], strict=True))
        print(f"\n{changed} of the {len(asked)} questions get other passages with one per story")
        qa.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("groups", help="group a corpus's articles into stories")
    p.add_argument("--articles", type=Path, required=True)
    p.add_argument("--pairs", type=Path, help="write the grouped pairs here (JSON Lines)")
    p.add_argument("--show", type=int, default=12, help="the largest stories to print")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threshold", type=float, default=0.8)
    p = sub.add_parser("retrieval", help="hit@5 with and without one passage per story")
    add_sample_arguments(p)
    p.add_argument("--threshold", type=float, default=0.8)
    args = parser.parse_args()
    return groups(args) if args.command == "groups" else retrieval(args)


if __name__ == "__main__":
    sys.exit(main())
