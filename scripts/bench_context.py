"""What the model reads: how often the gold answer is in the prompt, and how long the prompt is.

    .venv/bin/python scripts/bench_context.py --store /tmp/nq/rtqa-store \\
        --gold ../shared/data/realtimeqa-dev/qa.jsonl --limit 200 --seed 0

For each answerable question of the sample, retrieval runs as `ask()` runs it (the same k
passages, the question date), and each way of cutting the passages for the prompt
(`qa.context`) is scored without a model: the share of questions whose gold answer is in the
text shown (the model cannot name what it does not see), and the characters and tokens of the
sources as the model reads them.
No model is called, so a way of cutting can be tried on every question in seconds; what the
model then makes of it is measured by `newsqa eval --compare`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from itertools import product
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.chain import NewsQA, to_sources  # noqa: E402
from qa.context import prompt_sources  # noqa: E402
from qa.eval.gold import load_gold, sample_questions  # noqa: E402
from qa.eval.options import add_sample_arguments  # noqa: E402
from qa.prompts import format_sources  # noqa: E402
from qa.settings import get_settings  # noqa: E402
from qa.words import normalize_tokens  # noqa: E402


def contains(text: str, answers: list[str]) -> bool:
    have = " " + " ".join(normalize_tokens(text)) + " "
    return any((want := " ".join(normalize_tokens(a))) and f" {want} " in have for a in answers)


def tokenizer(model: str | None):
    """A function counting the chat model's tokens of a text (chars / 4 without a model)."""
    if not model:
        return lambda text: len(text) / 4
    from cyllama import LLM

    llm = LLM(model, n_ctx=512)
    return lambda text: len(llm.vocab.tokenize(text, add_special=False, parse_special=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_sample_arguments(parser)
    parser.add_argument("--k", type=int, nargs="+", default=[4])
    parser.add_argument(
        "--ways",
        nargs="+",
        default=["whole", "passages:400", "pool:1000", "pool:1200", "pool:1400"],
        help="how the prompt is cut: whole (the chunks as stored), passages:CHARS (each passage "
        "cut to CHARS, retrieval.context = passages) or pool:CHARS (CHARS in all, "
        "retrieval.context = pool)",
    )
    parser.add_argument(
        "--headings",
        nargs="+",
        default=["every"],
        choices=["every", "once"],
        help="retrieval.headings: each passage headed by its article (every), or only an "
        "article's first passage (once); each way is measured with each",
    )
    parser.add_argument(
        "--neighbours",
        type=int,
        nargs="+",
        default=[1],
        help="retrieval.pool_neighbours: sentences shown on each side of a chosen one (pool only)",
    )
    parser.add_argument("--model", help="a GGUF file whose tokenizer counts the tokens")
    parser.add_argument("--json", type=Path, help="write the per-question table here")
    args = parser.parse_args()

    golds = [g for g in sample_questions(load_gold(args.gold), args.limit, args.seed) if g.answers]
    qa = NewsQA(get_settings({"store": {"path": args.store}, "llm": {"provider": "extractive"}}))
    r = qa.settings.retrieval
    count = tokenizer(args.model)
    rows = []
    t0 = time.perf_counter()
    for g in golds:
        found = qa.retriever.retrieve(g.asked, r.fetch_k, None, question_date=g.question_date)
        kept = [(d, s) for d, s in found if s >= r.min_score]
        row = {"id": g.id, "question": g.asked, "gold": g.answers}
        for k in args.k:
            sources = to_sources(kept[:k])
            for way, headings, around in product(args.ways, args.headings, args.neighbours):
                name, _, chars = way.partition(":")
                cut = (
                    sources
                    if name == "whole"
                    else prompt_sources(
                        g.asked, sources, name, int(chars), qa._embed, headings, around
                    )
                )
                text = format_sources(cut, headings)
                row[f"{way}@{k}/{headings}/{around}"] = {
                    "answer": contains(text, g.answers),
                    "chars": len(text),
                    "tokens": count(text),
                }
        rows.append(row)
    print(
        f"{len(rows)} answerable questions, retrieval {time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
    )
    print("| way | headings | neighbours | k | gold answer shown | chars p50 | tokens p50 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for k in args.k:
        for way, headings, around in product(args.ways, args.headings, args.neighbours):
            cells = [row[f"{way}@{k}/{headings}/{around}"] for row in rows]
            shown = sum(c["answer"] for c in cells) / len(cells)
            print(
                f"| {way} | {headings} | {around} | {k} | {shown:.3f} "
                f"| {statistics.median(c['chars'] for c in cells):.0f} "
                f"| {statistics.median(c['tokens'] for c in cells):.0f} |"
            )
    if args.json:
        args.json.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
