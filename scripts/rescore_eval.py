"""Score an evaluation's answers again without asking again, e.g. with another entailment judge.

    .venv/bin/python scripts/rescore_eval.py /tmp/newsqa-eval/rtqa --judge qwen2.5-1.5b

Rewrites the verdicts in results.jsonl, summary.json and report.html of DIR (or of each
DIR/<config>/, and DIR/comparison.json, after `--compare`), and prints the table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa import report  # noqa: E402
from qa.evaluate import JUDGES, make_judge, rescore  # noqa: E402
from qa.settings import get_settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="the --out folder of `newsqa eval`")
    parser.add_argument("--judge", choices=JUDGES, default="lexical")
    args = parser.parse_args()
    from vectorstore.embed import LocalEmbeddings

    settings = get_settings()
    embed = LocalEmbeddings(settings.store.embedding_model).embed_documents
    result = rescore(args.out, make_judge(args.judge, embed, settings), args.judge)
    print(report.comparison_table(result) if "configs" in result else report.summary_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
