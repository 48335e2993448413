"""kill -9 stress: ingestion and local model assembly killed at random points, then re-run.

    .venv/bin/python scripts/stress_crash.py                      # 25 ingest + 20 assembly runs
    .venv/bin/python scripts/stress_crash.py --runs 5 --assembly-runs 3 --out summary.json
    .venv/bin/python scripts/stress_crash.py --real --runs 4 --assembly-runs 0   # `newsqa ingest`

Ingestion: one store lives through all runs. Each run picks another corpus variant (same article
ids, a third of them rewritten at other lengths, so the re-run must update and delete chunks),
starts `tests/crash_driver.py ingest` (the product path with fake embeddings; `--real`: the
`newsqa ingest` CLI with the real embedding model), SIGKILLs it at a random point (after a
random count of embedding batches; with `--real`, after a random delay), sometimes kills the
re-run too (maybe with yet another variant), then runs the ingestion to completion and
compares the store with a clean ingest of the same variant (crash_driver.verify: every article's
chunk ids, fingerprints, texts and vectors, no duplicates or orphans, every vector reachable, the
keyword index on disk and as the product opens it holding exactly the collection's chunks and
words, title searches finding their article). Assembly: `local_model_path()` killed into a fresh
cache folder, maybe killed again, then completed; the file's sha256 must equal the parts'
concatenation and no `*.part` file may remain. Prints (and with --out writes) a JSON summary.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "tests" / "crash_driver.py"
sys.path.insert(0, str(ROOT / "tests"))


def _driver(*args: str, progress: Path | None = None) -> list[str]:
    extra = ["--progress", str(progress)] if progress else []
    return [sys.executable, str(DRIVER), *args, *extra]


def _kill_at_random(cmd: list[str], started, window: float, where, rng: random.Random) -> str:
    """Run cmd; once `started(pid)` (or at once with 15% odds), SIGKILL it within `window` s.

    Returns `where()` at the kill, or "finished" if it ended first.
    """
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    early = rng.random() < 0.15  # some kills during start-up and the first reads
    deadline = time.monotonic() + 120
    while (
        not early and not started(proc.pid) and proc.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    try:
        proc.wait(rng.uniform(0, window))
        return "finished"
    except subprocess.TimeoutExpired:
        landed = where()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return landed


def _events(progress: Path) -> list[tuple[str, float]]:
    lines = progress.read_text().splitlines() if progress.exists() else []
    pairs = (line.split(" ") for line in lines)  # the last line may be half written
    return [(p[0], float(p[1])) for p in pairs if len(p) == 2 and p[1].replace(".", "").isdigit()]


def _phase(progress: Path) -> str:
    events = [e for e, _ in _events(progress)]
    if "done" in events:
        return "after_done"
    return "during_write" if "batch" in events else "before_write"


def verify(store: Path, reference: Path, real: bool = False) -> dict[str, list]:
    """crash_driver.verify in a new process.

    Never in this one: embedded Chroma keeps a store open (and may write its state back) for
    as long as its process lives, while the next runs write the same folder from theirs.
    """
    cmd = [*_driver("verify", str(store), str(reference)), *(["--real"] if real else [])]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        return {"verify_failed": [f"exit {done.returncode}", *done.stderr.splitlines()[-1:]]}
    return json.loads(done.stdout.strip().splitlines()[-1])


class IngestStress:
    """The ingestion half: corpus variants, their references, the kill runs."""

    def __init__(self, work: Path, real: bool, articles: int, sleep: float) -> None:
        from crash_driver import make_corpus

        self.work, self.real, self.sleep = work, real, sleep
        work.mkdir(parents=True, exist_ok=True)
        self.store, self.progress = work / "store", work / "progress.txt"
        self.corpora = [make_corpus(work / f"corpus-{v}.jsonl", v, articles) for v in range(3)]
        self.references: dict[int, Path] = {}
        self.window = 0.0  # --real: seconds within which a kill falls
        self.batches = 1  # fake model: embedding batches within which a kill falls

    def sources(self, variant: int) -> list[str]:
        return [str(self.corpora[variant]), str(ROOT / "samples" / "news")]

    def command(self, variant: int, store: Path) -> list[str]:
        if self.real:
            return _driver("cli", "--store", str(store), *self.sources(variant))
        return _driver(
            "ingest",
            "--store",
            str(store),
            "--sleep",
            str(self.sleep),
            *self.sources(variant),
            progress=self.progress,
        )

    def complete(self, variant: int, store: Path) -> tuple[float, int]:
        """Ingest to the end (no kill); the seconds its writes took (start-up excluded) and
        its embedding batches (0 with --real: no progress file)."""
        self.progress.unlink(missing_ok=True)
        start = time.time()
        subprocess.run(
            self.command(variant, store), cwd=ROOT, check=True, stdout=subprocess.DEVNULL
        )
        events = _events(self.progress)
        batches = sum(e == "batch" for e, _ in events)
        first = dict(reversed(events))  # each event's first time
        if "batch" in first and "done" in first:
            return first["done"] - first["batch"], batches
        return time.time() - start, batches

    def reference(self, variant: int) -> Path:
        path = self.work / f"reference-{variant}"
        if variant not in self.references:
            if self.real:
                self.complete(variant, path)
            else:  # the same product path, without the kill knobs
                subprocess.run(
                    _driver(
                        "ingest",
                        "--store",
                        str(path),
                        *self.sources(variant),
                    ),
                    cwd=ROOT,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
            self.references[variant] = path
        return path

    def _batches_reached(self, count: int, _pid: int) -> bool:
        return sum(e == "batch" for e, _ in _events(self.progress)) >= count

    def run(self, rng: random.Random, variant: int) -> tuple[int, list[str], dict]:
        """Kill, maybe kill the re-run, complete; the final variant, kill phases, problems."""
        phases = []
        for attempt in range(2 if rng.random() < 0.5 else 1):
            if attempt:
                variant = variant if rng.random() < 0.6 else (variant + 1) % 3
            self.progress.unlink(missing_ok=True)
            if self.real:  # the CLI writes no progress file: a kill falls at a random second
                started, window = (lambda _: True), 1.1 * self.window
                where = lambda: "unknown"  # noqa: E731
            else:
                # The kill waits for a random count of embedding batches, then falls within two
                # batches' sleep (the last batch's writes included): counted in writes, not
                # seconds, so a loaded machine (slower start-up, slower batches) moves the kill
                # with the writes, not past them.
                at = rng.randint(1, self.batches)
                started, window = partial(self._batches_reached, at), 2 * self.sleep
                where = lambda: _phase(self.progress)  # noqa: E731
            phases.append(
                _kill_at_random(self.command(variant, self.store), started, window, where, rng)
            )
        reference = self.reference(variant)
        # Complete, then (fake model) verify in the same new process, reopened from disk.
        extra = [] if self.real else ["--verify", str(reference)]
        done = subprocess.run(
            [*self.command(variant, self.store), *extra], cwd=ROOT, capture_output=True, text=True
        )
        if done.returncode != 0:
            return variant, phases, {"exit": [f"{done.returncode}: {done.stderr[-500:]}"]}
        if self.real:
            return variant, phases, verify(self.store, reference, real=True)
        return variant, phases, json.loads(done.stdout.strip().splitlines()[-1])


def ingest_runs(
    work: Path, runs: int, seed: int, real: bool = False, articles: int = 120, sleep: float = 0.02
) -> dict:
    """`runs` kill runs into one store; totals of where kills landed and what verify found."""
    stress = IngestStress(work, real, articles, sleep)
    rng = random.Random(seed)
    # Kills fall within about one updating run's writes (a third of the articles change, and
    # the samples not at all): a quarter of a whole ingest's batches (with --real: a whole
    # run's seconds, model loading included).
    seconds, batches = stress.complete(0, stress.store)
    stress.window, stress.batches = seconds, max(1, batches // 4)
    variant, phases = 0, []
    totals = dict.fromkeys(
        (
            "lost_articles",
            "duplicate_chunks",
            "orphans",
            "stale_chunks",
            "unreachable_vectors",
            "index_mismatches",
            "search_failures",
        ),
        0,
    )
    failures, chroma_losses = [], []
    for r in range(runs):
        variant, landed, problems = stress.run(rng, (variant + rng.randint(1, 2)) % 3)
        phases += landed
        found = {k: v for k, v in problems.items() if v}
        for key, values in found.items():
            totals[key] = totals.get(key, 0) + len(values)
        # Chroma's own HNSW losing a vector to a kill is reported apart: newsqa cannot see it
        # (the chunk is in the collection) and only Chroma can fix it (docs/reliability.md).
        lost = found.pop("unreachable_vectors", None)
        if lost:
            chroma_losses.append({"run": r, "kills": landed, "chunks": lost[:5]})
        if found:
            failures.append({"run": r, "kills": landed, **{k: v[:5] for k, v in found.items()}})
        print(
            f"ingest run {r + 1}/{runs}: variant {variant}, kills {landed}, "
            f"{'FAIL ' + json.dumps(found)[:300] if found else 'ok'}"
            f"{f' (Chroma lost {len(lost)} vectors)' if lost else ''}",
            flush=True,
        )
    return {
        **_kill_counts(runs, phases),
        "failures": failures,
        "chroma_vector_losses": chroma_losses,
        **totals,
    }


def _kill_counts(runs: int, phases: list[str]) -> dict:
    """How many kills there were, and where in the work each landed."""
    return {
        "runs": runs,
        "kills": len(phases),
        "kills_landed_during_write": phases.count("during_write"),
        "kills_landed": {p: phases.count(p) for p in sorted(set(phases))},
    }


def assembly_runs(work: Path, runs: int, seed: int, model: str = "qwen2.5-0.5b") -> dict:
    """`runs` kills of local_model_path() into fresh cache folders, each then completed."""
    from qa.models import LOCAL_MODELS, local_model_path

    prefix, count, _ = LOCAL_MODELS[model]
    parts = [importlib.import_module(f"{prefix}{i}").get_part_path() for i in range(1, count + 1)]
    want = _sha256(*parts)
    size = sum(Path(p).stat().st_size for p in parts)
    start = time.perf_counter()
    rng = random.Random(seed)
    phases, failures, leftovers_seen = [], [], 0
    for r in range(runs):
        cache = work / f"cache-{r}"
        target = cache / f"{model}.gguf"
        cmd = _driver("assemble", "--cache", str(cache), "--model", model)

        def where(t=target, c=cache) -> str:
            parts = list(c.glob("*.part"))
            return "after_done" if t.exists() else "during_write" if parts else "before_write"

        # Each kill waits until its process has written a random share of the file (up to all
        # of it: then it lands in the fsync or the rename), since copy times vary 0.4-1 s here.
        kills = []
        for _ in range(2 if rng.random() < 0.5 else 1):
            at = rng.uniform(0, 1.02) * size
            kills.append(_kill_at_random(cmd, partial(_written, target, at), 0.0, where, rng))
        phases += kills
        leftovers_seen += len(list(cache.glob("*.part")))
        try:  # the next call, here: it must clean up after the killed ones and finish the file
            path, error = local_model_path(model, cache), ""
        except Exception as exc:
            path, error = None, str(exc)
        ok_hash = path is not None and _sha256(path) == want
        left = sorted(p.name for p in cache.glob("*.part"))
        if not ok_hash or left:
            failures.append({"run": r, "sha256_ok": ok_hash, "leftovers": left, "error": error})
        print(
            f"assembly run {r + 1}/{runs}: kills {kills}, "
            f"{'ok' if ok_hash and not left else 'FAIL'}",
            flush=True,
        )
        shutil.rmtree(cache, ignore_errors=True)
    return {
        **_kill_counts(runs, phases),
        "part_files_left_by_kills": leftovers_seen,
        "failures": failures,
        "seconds": round(time.perf_counter() - start, 1),
    }


def _written(target: Path, at: float, pid: int) -> bool:
    """Whether process `pid` has written `at` bytes of its .part file (or finished it)."""
    part = target.with_name(f"{target.name}.{pid}.part")
    return target.exists() or (part.exists() and part.stat().st_size >= at)


def _sha256(*paths) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            while block := f.read(1 << 24):
                digest.update(block)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    p.add_argument("--runs", type=int, default=25, help="ingestion kill runs (default 25)")
    p.add_argument("--assembly-runs", type=int, default=20, help="assembly kill runs (default 20)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--articles", type=int, default=120, help="generated articles per variant")
    p.add_argument("--sleep", type=float, default=0.02, help="seconds per embedding batch")
    p.add_argument("--real", action="store_true", help="`newsqa ingest` with the real model")
    p.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    p.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = p.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="stress-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    summary: dict = {"seed": args.seed, "real_model": args.real}
    try:
        if args.runs:
            summary["ingest"] = ingest_runs(
                work / "ingest", args.runs, args.seed, args.real, args.articles, args.sleep
            )
        if args.assembly_runs:
            summary["assembly"] = assembly_runs(work / "assembly", args.assembly_runs, args.seed)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    parts = [summary.get("ingest", {}), summary.get("assembly", {})]
    summary.update(
        {
            "runs": sum(x.get("runs", 0) for x in parts),
            "kills_landed_during_write": sum(x.get("kills_landed_during_write", 0) for x in parts),
            "failures": sum(len(x.get("failures", [])) for x in parts),
            **{
                k: summary.get("ingest", {}).get(k, 0)
                for k in (
                    "lost_articles",
                    "duplicate_chunks",
                    "orphans",
                    "index_mismatches",
                    "unreachable_vectors",
                )
            },
            "seconds": round(time.perf_counter() - start, 1),
        }
    )
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
