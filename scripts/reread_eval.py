"""Read a finished `newsqa eval` run's model replies again with today's reader: no model calls.

    .venv/bin/python scripts/reread_eval.py /tmp/nq/final-rtqa/default --store /tmp/nq/rtqa-store

The answer-first reader's checks (qa/reader.py) are deterministic given the model's first line,
the passages shown and the keyword index's idf, all of which a results.jsonl row or the store
holds. So a change to the checks alone can be measured on a run's stored replies, exactly: the
first line is re-read (a retry line, if the run had one, is ignored, as with `llm.retry` off),
and when it is refused and the run took a second look (`retrieval.widen`), the second look's
line is read instead; each row is scored again, and the summary of the run as stored and as
re-read is printed, then every row whose answer changed. Writes nothing.

`--min-topic-coverage` plays another threshold of the topic check. A lower one is exact on a run
that asked the model for every question (the `ask-off-topic` configuration: the default does
not ask when no passage is about the question, so its rows hold no reply to re-read); a higher
one is not, as a first line it refuses would have had a second look the run did not take.

    .venv/bin/python scripts/reread_eval.py /tmp/nq/s27/rtqa/ask-off-topic \
        --store /tmp/nq/rtqa-store --min-topic-coverage 0.3

`--wider RUN` also plays the pooled default's second look (`retrieval.widen`, qa/chain.py): a
row that is refused when re-read takes instead the re-read reply of the same question in RUN, a
run with `context = "passages"` over the same store, whose first prompt is the one the second
look sends.

    .venv/bin/python scripts/reread_eval.py /tmp/nq/final-rtqa/pool-1000 \
        --wider /tmp/nq/final-rtqa/default --store /tmp/nq/rtqa-store
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa import reader  # noqa: E402
from qa.eval.metrics import SupportJudge  # noqa: E402
from qa.eval.score import row_sources, score_row, summarize  # noqa: E402
from vectorstore.embed import LocalEmbeddings  # noqa: E402
from vectorstore.keyword import KeywordIndex  # noqa: E402

KEYS = ("answer_accuracy", "text_accuracy", "refusal_accuracy", "false_refusal_rate")


def reread(row: dict, embed, weigh) -> dict:
    sources = row_sources(row)
    lines = (row.get("raw_text") or "").split("\n")
    got = reader.read(row["question"], lines[0], sources, embed, weigh)
    if got.refused and "widen" in row["timings"] and len(lines) > 1:  # the second look's reply
        got = reader.read(row["question"], lines[1], sources, embed, weigh)
    cited = [{"n": c.n, "article_id": c.article_id, "quote": c.quote} for c in got.citations]
    return row | {
        "answer": got.text,
        "short_answer": got.short_answer,
        "refused": got.refused,
        "refusal_reason": got.reason,
        "citations": cited,
    }


def load(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "results.jsonl").read_text("utf-8").splitlines()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a folder with results.jsonl")
    parser.add_argument("--store", type=Path, help="the run's store, for the keyword idf")
    parser.add_argument(
        "--wider", type=Path, help="a passages-context run of the same questions (see above)"
    )
    parser.add_argument(
        "--min-topic-coverage",
        type=float,
        default=reader.MIN_TOPIC_COVERAGE,
        help="the topic check's threshold (qa/reader.py; default %(default)s): a lower one is "
        "played exactly on a run that asked the model for every question (ask-off-topic)",
    )
    args = parser.parse_args()
    reader.MIN_TOPIC_COVERAGE = args.min_topic_coverage
    rows = load(args.run)
    embeddings = LocalEmbeddings(None, 32)
    index = KeywordIndex(args.store / "keyword") if args.store else None
    judge = SupportJudge(embeddings.embed_documents)
    again = [reread(r, embeddings.embed_documents, index and index.idf) for r in rows]
    if args.wider:
        wide = {r["id"]: r for r in load(args.wider)}
        again = [
            reread(wide[r["id"]], embeddings.embed_documents, index and index.idf)
            if r["refused"] and r["refusal_reason"] != reader.NOTHING_RETRIEVED
            else r
            for r in again
        ]
    again = [r | {"verdict": score_row(r, judge)} for r in again]
    for name, found in (("as stored", rows), ("re-read", again)):
        s = summarize(found)
        scores = ", ".join(f"{k} {s[k]}" for k in (*KEYS, "truthfulness"))
        print(f"{name}: {scores}; refusals {s['refusal_reasons']}")
    for old, new in zip(rows, again, strict=True):
        if (old["answer"], old["refused"]) != (new["answer"], new["refused"]):
            right = new["verdict"].get("correct")
            print(
                f"  {'answerable' if new['answerable'] else 'unanswerable'}, now right={right}: "
                f"{new['question'][:70]} -> {new['answer'][:90]}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
