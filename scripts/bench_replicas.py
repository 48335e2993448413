"""App-side throughput of 1 and 2 `newsqa ui` replicas on one Chroma server, the model a
fixed-latency OpenAI-compatible stub (scripts/stub_openai.py): what newsqa itself adds (embedding
the question, hybrid retrieval, reranking, verifying citations) and whether a second replica
raises answers per minute. The stub sleeps, so answer quality and model speed are not measured.

Starts `chroma run` and the stub on 127.0.0.1, ingests samples/news once (the first replica does,
as `newsqa ui` does into an empty store), then for each replica count runs `--users` users for
`--seconds`, each asking the sample questions in turn through `/ask` (gradio_client), spread over
the replicas round robin. Prints answers per minute, latency p50/p95, refusals and errors per run.

  .venv/bin/python scripts/bench_replicas.py                     # 8 users, 90 s, 2 s latency
  .venv/bin/python scripts/bench_replicas.py --users 4 --seconds 60 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "tests")]

from helpers.servers import free_port, running  # noqa: E402
from stub_openai import StubServer  # noqa: E402

QUESTIONS = [
    json.loads(line)["question"]
    for line in (ROOT / "samples" / "qa.jsonl").read_text().splitlines()
    if line.strip()
]


def run(urls: list[str], users: int, seconds: float) -> dict:
    """`users` threads asking through /ask for `seconds`, user i on urls[i % len(urls)]."""
    from gradio_client import Client

    latencies: list[float] = []
    errors: list[str] = []
    refused: list[bool] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def user(i: int) -> None:
        client = Client(urls[i % len(urls)], verbose=False)
        n = i
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                answer = client.predict(QUESTIONS[n % len(QUESTIONS)], "", "", api_name="/ask")
                with lock:
                    latencies.append(time.perf_counter() - start)
                    refused.append(bool(answer["refused"]))
            except Exception as exc:  # counted and shown, never hidden
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
            n += 1

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "replicas": len(urls),
        "users": users,
        "seconds": round(elapsed, 1),
        "answers": len(latencies),
        "answers_per_minute": round(60 * len(latencies) / elapsed, 1),
        "p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 2) if latencies else None,
        "refused": sum(refused),
        "errors": len(errors),
        "error_samples": errors[:3],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=8, help="concurrent users (8)")
    parser.add_argument("--seconds", type=float, default=90.0, help="per run (90)")
    parser.add_argument("--latency", type=float, default=2.0, help="stub seconds per call (2)")
    parser.add_argument("--replicas", default="1,2", help="replica counts to run (1,2)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.replicas.split(",")]

    work = Path(tempfile.mkdtemp(prefix="newsqa-replicas-"))
    stub = StubServer(latency=args.latency).start()
    chroma_port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    results = []
    with ExitStack() as stack:
        stack.callback(stub.close)
        stack.enter_context(
            running(
                [str(chroma), "run", "--path", str(work / "chroma"), "--host", "127.0.0.1"]
                + ["--port", str(chroma_port)],
                work / "chroma.log",
                f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat",
                env=dict(os.environ),
            )
        )
        urls = []
        for n in range(max(counts)):
            port = free_port()
            env = {
                **os.environ,
                "NEWSQA_STORE__PATH": str(work / f"app{n}"),
                "NEWSQA_STORE__CHROMA_HOST": "127.0.0.1",
                "NEWSQA_STORE__CHROMA_PORT": str(chroma_port),
                "NEWSQA_LLM__PROVIDER": "openai",
                "NEWSQA_LLM__BASE_URL": stub.url,
                "NEWSQA_LLM__MODEL": "stub",
                "GRADIO_ANALYTICS_ENABLED": "False",
            }
            url = f"http://127.0.0.1:{port}/"
            stack.enter_context(
                running(
                    [sys.executable, "-m", "qa.cli", "ui", "--no-auth", "--host", "127.0.0.1"]
                    + ["--port", str(port)],
                    work / f"app{n}.log",
                    url,
                    env=env,
                )
            )
            urls.append(url)
        run(urls[:1], 1, 10)  # warm every replica's first question (model load, caches)
        run(urls, len(urls), 10)
        for count in counts:
            result = run(urls[:count], args.users, args.seconds)
            result["stub_latency_s"] = args.latency
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
