"""Fuzzed bad input at scale: thousands of malformed inputs in one ingestion, checked one by one.

    .venv/bin/python scripts/stress_fuzz.py --count 2000 --seed 1 [--json out.json]

Writes tests/fuzz_corpus.py's corpus (at least `--count` malformed files, pages and feeds, with
valid articles among them; 1 + count // 1000 each of a 10 MB single-line text, a 10 MB JSON line,
a slow URL and a trickling one), serves its URLs from a loopback server, ingests it all in one
`NewsStore.ingest(load_sources(...))` call into a real Chroma in a temporary folder (fake
embeddings: the loader is under test, not the model), and checks every input against the
manifest. Prints a JSON summary:

    {"inputs", "malformed", "valid", "failed_as_expected", "stored_as_expected", "unexpected",
     "crashed", "seconds", "peak_rss_mb", ...}

`unexpected` counts expected failures not reported, failures not expected, valid articles not
stored and articles stored that should not be; the first few of each are listed. Exit status 0
when `unexpected` is 0 and nothing crashed, else 1.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fuzz_corpus import check, make_corpus  # noqa: E402
from helpers import FakeEmbeddings  # noqa: E402
from helpers.web import LocalServer  # noqa: E402

from qa.settings import get_settings  # noqa: E402
from vectorstore.ingest.load import load_sources  # noqa: E402
from vectorstore.store import NewsStore  # noqa: E402

MISMATCHES = ("missing_failures", "unexpected_failures", "missing_articles", "unexpected_articles")


def run(count: int, seed: int, timeout: float, huge_mb: int, folder: Path) -> dict:
    """Make, serve, ingest and check one corpus; the summary."""
    with LocalServer(slow_seconds=timeout + 5) as server:
        started = time.monotonic()
        corpus = make_corpus(folder / "in", count, seed, server.base_url, huge_mb=huge_mb)
        server.routes.update(corpus.routes)
        made = time.monotonic() - started
        settings = get_settings({"store": {"path": folder / "store"}})
        store = NewsStore(settings.store, FakeEmbeddings())
        summary = {"inputs": len(corpus.failures) + len(corpus.stored),
                   "malformed": len(corpus.failures), "valid": len(corpus.stored),
                   "sources": len(corpus.sources), "urls": len(corpus.extra)}  # fmt: skip
        started = time.monotonic()
        try:
            loaded = load_sources(corpus.sources, timeout=timeout, allow_private=True)  # 127.0.0.1
            report = store.ingest(loaded, progress=False)
        except Exception:  # the property under test: this must not happen
            return {**summary, "crashed": traceback.format_exc(), "unexpected": None}
        seconds = time.monotonic() - started
        outcome = check(corpus, report.failed, store)
    unexpected = {key: outcome[key] for key in MISMATCHES}
    return {
        **summary,
        "failed_as_expected": outcome["failed_as_expected"],
        "stored_as_expected": outcome["stored_as_expected"],
        "reported_failures": len(report.failed),
        "added": len(report.added),
        "unexpected": sum(len(v) for v in unexpected.values()),
        "unexpected_examples": {k: [str(x) for x in v[:5]] for k, v in unexpected.items() if v},
        "crashed": False,
        "seconds": round(seconds, 1),
        "seconds_writing_inputs": round(made, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "timeout": timeout,
        "seed": seed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="malformed inputs (at least)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the corpus")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per download")
    parser.add_argument("--huge-mb", type=int, default=10, help="size of the single-line files")
    parser.add_argument("--json", type=Path, help="also write the summary to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stress-fuzz-") as folder:
        summary = run(args.count, args.seed, args.timeout, args.huge_mb, Path(folder))
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if summary["unexpected"] == 0 and not summary["crashed"] else 1


if __name__ == "__main__":
    sys.exit(main())
