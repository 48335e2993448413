"""How well the question's wording picks its path (qa/route.py): a labelled set, and gold sets.

    .venv/bin/python scripts/bench_route.py --labelled qa/eval/sets/question-kinds.jsonl \\
        --facts ../shared/data/realtimeqa-dev/qa.jsonl --facts ../shared/data/seed/qa.jsonl

`--labelled` is JSON Lines of {"question", "kind"}: the share routed as labelled, the confusion
table (rows: the label; columns: the path taken) and every miss. `--facts` is a gold set whose
questions all want a short answer (realtimeqa's quiz questions, the seed set's): every question
routed elsewhere leaves the short path that answers it, and is listed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.route import FACT, KINDS, question_kind  # noqa: E402


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def labelled(path: Path) -> None:
    rows = _lines(path)
    taken = [question_kind(r["question"]) for r in rows]
    right = sum(t == r["kind"] for t, r in zip(taken, rows, strict=True))
    print(f"{path}: {right}/{len(rows)} routed as labelled ({right / len(rows):.3f})")
    by_corpus = Counter(r.get("corpus", "-") for r in rows)
    print("  questions by corpus: " + ", ".join(f"{c} {n}" for c, n in sorted(by_corpus.items())))
    confusion = Counter((r["kind"], t) for t, r in zip(taken, rows, strict=True))
    print("  label \\ path " + "".join(f"{k:>11}" for k in KINDS))
    for label in KINDS:
        print(f"  {label:<13}" + "".join(f"{confusion[label, k]:>11}" for k in KINDS))
    for t, r in zip(taken, rows, strict=True):
        if t != r["kind"]:
            print(f"  miss: labelled {r['kind']}, routed {t}: {r['question']}")


def facts(path: Path) -> None:
    rows = _lines(path)
    start = time.perf_counter()
    taken = [question_kind(r["question"]) for r in rows]
    per = (time.perf_counter() - start) / max(1, len(rows))
    counts = Counter(taken)
    print(
        f"{path}: {counts[FACT]}/{len(rows)} kept on the short path; "
        + ", ".join(f"{k} {n}" for k, n in sorted(counts.items()) if k != FACT)
        + f" ({per * 1e6:.0f} µs a question)"
    )
    for t, r in zip(taken, rows, strict=True):
        if t != FACT:
            print(f"  routed {t}: {r['question']}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--labelled", type=Path, action="append", default=[])
    p.add_argument("--facts", type=Path, action="append", default=[])
    args = p.parse_args()
    if not args.labelled and not args.facts:
        p.error("give --labelled and/or --facts")
    for path in args.labelled:
        labelled(path)
    for path in args.facts:
        facts(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
