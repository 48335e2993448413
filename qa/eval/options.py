"""The options and named configurations of `newsqa eval`, apart from the harness.

Light on purpose: `newsqa --help` builds the eval parser without importing the pipeline. The
configurations are data, in configs.toml beside this file.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

CONFIGS: dict[str, dict] = tomllib.loads(
    (Path(__file__).with_name("configs.toml")).read_text(encoding="utf-8")
)
JUDGES = ("lexical", "qwen2.5-0.5b", "qwen2.5-1.5b")  # entailment judges for citation scores


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    """--store, --gold, --limit, --seed: the options of the scripts that measure over an eval's
    store and its sample of gold questions without a model (scripts/bench_*.py)."""
    parser.add_argument("--store", type=Path, required=True, help="a store `newsqa eval` made")
    parser.add_argument("--gold", type=Path, required=True, help="gold questions, a .jsonl file")
    parser.add_argument("--limit", type=int, default=200, help="questions sampled (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `newsqa eval` (the store and model options come from the CLI)."""
    parser.add_argument(
        "--articles",
        type=Path,
        help="articles: a .jsonl file (one article a line) or a folder (required)",
    )
    parser.add_argument("--gold", type=Path, help="gold questions, a .jsonl file (required)")
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for results.jsonl, summary.json and report.html "
        "(and the store, unless --store is given) (required)",
    )
    parser.add_argument(
        "--rescore",
        type=Path,
        metavar="DIR",
        help="score the answers of a finished run in DIR again (for instance with another "
        "--judge) without asking again; rewrites its results, summaries and report",
    )
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="ask N questions, sampled per type in proportion (by --seed)",
    )
    parser.add_argument(
        "--distractors",
        type=int,
        metavar="M",
        help="ingest only the questions' evidence articles plus M others",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="go on with an interrupted run in --out: the answers already in its "
        "results.jsonl.part files are kept (when they are for the same questions, in order, "
        "with the same settings) and the rest are asked; a finished configuration is skipped",
    )
    parser.add_argument(
        "--compare",
        metavar="CONFIGS",
        help=f"comma-separated configurations to compare: {', '.join(CONFIGS)}",
    )
    parser.add_argument(
        "--judge",
        choices=JUDGES,
        default="lexical",
        help="entailment judge of the citation scores: lexical (fast, rough) or a "
        "local model asked yes/no (slower, closer to hand labels; see "
        "docs/evaluation.md) (default: lexical)",
    )
    parser.add_argument("--json", action="store_true", help="print summary.json, not the table")
