"""Check the evaluation's entailment judge against hand labels (tests/data/entailment_labels.jsonl).

    .venv/bin/python scripts/check_judge.py            # lexical: qa.eval.metrics.SupportJudge
    .venv/bin/python scripts/check_judge.py --sweep    # and its agreement at other thresholds
    .venv/bin/python scripts/check_judge.py --judge qwen2.5-1.5b   # a local model, asked yes/no

Prints accuracy and the precision/recall of "supported", and the pairs the judge got wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.eval.score import make_judge  # noqa: E402

LABELS = ROOT / "tests" / "data" / "entailment_labels.jsonl"


def agreement(labels: list[bool], verdicts: list[bool]) -> dict:
    tp = sum(a and b for a, b in zip(labels, verdicts, strict=True))
    fp = sum(b and not a for a, b in zip(labels, verdicts, strict=True))
    fn = sum(a and not b for a, b in zip(labels, verdicts, strict=True))
    right = sum(a == b for a, b in zip(labels, verdicts, strict=True))
    return {
        "pairs": len(labels),
        "accuracy": right / len(labels),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "false_yes": fp,
        "false_no": fn,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", action="store_true", help="also try other thresholds")
    parser.add_argument(
        "--judge",
        default="lexical",
        choices=["lexical", "qwen2.5-0.5b", "qwen2.5-1.5b"],
        help="the judge `newsqa eval --judge` would use (default: lexical)",
    )
    args = parser.parse_args()
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    labels = [r["supported"] for r in rows]
    start = time.perf_counter()
    from vectorstore.embed import LocalEmbeddings

    judge = make_judge(args.judge, LocalEmbeddings().embed_documents)
    if args.judge == "lexical":
        scores = [judge.score(r["passage"], r["claim"]) for r in rows]
        verdicts = [s >= judge.threshold for s in scores]
    else:
        verdicts = [judge(r["passage"], r["claim"]) for r in rows]
        scores = [float(v) for v in verdicts]
    seconds = time.perf_counter() - start
    report = {
        "judge": args.judge,
        "seconds_per_pair": round(seconds / len(rows), 3),
        "all": agreement(labels, verdicts),
    }
    for split in sorted({r["split"] for r in rows}):  # dev: seen while tuning; heldout: never
        pick = [i for i, r in enumerate(rows) if r["split"] == split]
        report[split] = agreement([labels[i] for i in pick], [verdicts[i] for i in pick])
    print(json.dumps(report, indent=2))
    for r, v, s in zip(rows, verdicts, scores, strict=True):
        if v != r["supported"]:
            print(
                f"  {r['id']} ({r['split']}) judged {'yes' if v else 'no'} ({s:.2f}), labelled "
                f"{'yes' if r['supported'] else 'no'} ({r['note']}): {r['claim']}"
            )
    if args.sweep and args.judge == "lexical":
        for t in (0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85):
            a = agreement(labels, [s >= t for s in scores])
            print(
                f"  threshold {t:.2f}: accuracy {a['accuracy']:.3f}, precision "
                f"{a['precision']:.3f}, recall {a['recall']:.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
