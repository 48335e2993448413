"""Does llama.cpp's batching raise answers per minute on 2 cores? cyllama 0.2.18 against 0.7.0.

The product answers one question at a time behind a lock (docs/performance.md). This asks
whether decoding several users' answers together, as parallel sequences of one llama.cpp
context, answers more of them per minute. N real reader prompts arrive at once; each mode
answers all N, greedily, up to --max-tokens:

  sequential  one after another, the shared prefix (instructions, worked examples) kept in the
              KV cache between prompts, as `qa.models.generate` does
  batched     all N as sequences of one context: the shared prefix copied to every sequence,
              the rest of every prompt read in shared batches, then one token per sequence
              per decode step

Both modes start with the prefix already read (the product's steady state). Reported per mode:
answers/min, and per user first-token and completion seconds from the moment all N arrived.

Steps:
  prompts   render N reader prompts (chat template applied) for questions of realtimeqa-dev,
            their passages retrieved from the whole-corpus store of bench_retrieval.py
  run       measure both modes with whichever cyllama the running Python has (needs only
            cyllama: runs under another venv)
  compare   `run` under each --python in turn, alternated --reps times, one JSON and a table

  .venv/bin/python scripts/bench_cyllama.py prompts /tmp/newsqa-cy/prompts.json --n 8
  .venv/bin/python scripts/bench_cyllama.py compare /tmp/newsqa-cy/prompts.json \\
      --model ~/.local/share/newsqa/models/qwen2.5-1.5b.gguf \\
      --python .venv/bin/python /path/to/py312-venv/bin/python --parallel 4 8
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "realtimeqa-dev"


def cmd_prompts(args) -> None:
    sys.path.insert(0, str(ROOT))
    from qa.chain import NewsQA
    from qa.models import _to_chat
    from qa.prompts import SHORT_PROMPT

    qa = NewsQA({"store": {"path": str(args.store)}})
    llm = qa.chat_model._load()
    rows = [json.loads(line) for line in (args.data / "qa.jsonl").open(encoding="utf-8")]
    rows = [r for r in rows if r.get("evidence_article_ids")][:: args.every][: args.n]
    prompts = []
    for row in rows:  # the passages and prompt exactly as the chain builds them
        inputs = qa._retrieve(
            {"question": row["question"], "question_date": row.get("question_date")}
        )
        messages = SHORT_PROMPT.format_messages(**inputs)
        prompts.append(
            {"question": row["question"], "prompt": llm._apply_template(_to_chat(messages))}
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(prompts, indent=1), encoding="utf-8")
    print(f"{len(prompts)} prompts -> {args.out}")


# --- run: cyllama only, so it works under any venv ----------------------------------------
class Engine:
    """One llama.cpp model and context with room for `n_seq` sequences."""

    def __init__(self, model_path: str, n_seq: int, n_ctx_seq: int, threads: int) -> None:
        from cyllama.llama import llama_cpp as L

        self.L = L
        L.ggml_backend_load_all()
        self.model = L.LlamaModel(str(model_path), L.LlamaModelParams())
        self.vocab = self.model.get_vocab()
        params = L.LlamaContextParams()
        params.n_ctx = n_seq * n_ctx_seq
        params.n_batch = params.n_ubatch = 512
        params.n_seq_max = n_seq
        params.kv_unified = True  # one cache: the prefix can be copied between sequences
        params.n_threads = params.n_threads_batch = threads
        params.no_perf = True
        self.ctx = L.LlamaContext(self.model, params)
        chain = L.LlamaSamplerChainParams()
        self.sampler = L.LlamaSampler(chain)
        self.sampler.add_greedy()
        self.n_batch = 512

    def tokens(self, text: str) -> list[int]:
        return list(self.vocab.tokenize(text, add_special=False, parse_special=True))

    def read(self, tokens: list[int], start: int, seq: int) -> int:
        """Decode `tokens` into `seq` from position `start`; the batch index of the last logit."""
        L = self.L
        for i in range(0, len(tokens), self.n_batch):
            part = tokens[i : i + self.n_batch]
            batch = L.LlamaBatch(n_tokens=len(part), embd=0, n_seq_max=1)
            for j, tok in enumerate(part):
                batch.add(tok, start + i + j, [seq], i + j == len(tokens) - 1)
            self.ctx.decode(batch)
        return (len(tokens) - 1) % self.n_batch


def run_sequential(eng: Engine, prefix: list[int], suffixes: list[list[int]], max_tokens: int):
    """One prompt after another in sequence 0, the prefix kept, as the product answers."""
    t0 = time.perf_counter()
    first, done, out = [], [], []
    for suffix in suffixes:
        eng.ctx.memory_seq_rm(0, len(prefix), -1)
        idx = eng.read(suffix, len(prefix), 0)
        pos, n = len(prefix) + len(suffix), 0
        text = []
        while n < max_tokens:
            tok = eng.sampler.sample(eng.ctx, idx)
            if n == 0:
                first.append(time.perf_counter() - t0)
            n += 1
            if eng.vocab.is_eog(tok):
                break
            text.append(eng.vocab.token_to_piece(tok, special=True))
            batch = eng.L.LlamaBatch(n_tokens=1, embd=0, n_seq_max=1)
            batch.add(tok, pos, [0], True)
            eng.ctx.decode(batch)
            pos, idx = pos + 1, 0
        done.append(time.perf_counter() - t0)
        out.append("".join(text))
    return first, done, out


def run_batched(eng: Engine, prefix: list[int], suffixes: list[list[int]], max_tokens: int):
    """All prompts as sequences 0..N-1 of one context, decoded together."""
    L, n_seq = eng.L, len(suffixes)
    t0 = time.perf_counter()
    eng.ctx.memory_seq_rm(0, len(prefix), -1)
    for s in range(1, n_seq):
        eng.ctx.memory_seq_rm(s, -1, -1)
        eng.ctx.memory_seq_cp(0, s, -1, -1)
    # The prompts' own parts, packed into shared batches; a logit for each one's last token.
    pending = [(s, p, tok) for s, suf in enumerate(suffixes) for p, tok in enumerate(suf)]
    sampled: dict[int, int] = {}
    first: dict[int, float] = {}
    done: dict[int, float] = {}
    for i in range(0, len(pending), eng.n_batch):
        part = pending[i : i + eng.n_batch]
        batch = L.LlamaBatch(n_tokens=len(part), embd=0, n_seq_max=1)
        last_idx: dict[int, int] = {}
        for j, (s, p, tok) in enumerate(part):
            is_last = p == len(suffixes[s]) - 1
            batch.add(tok, len(prefix) + p, [s], is_last)
            if is_last:
                last_idx[s] = j
        eng.ctx.decode(batch)
        # Sampled as soon as its batch is decoded: the next decode overwrites the logits.
        for s, j in last_idx.items():
            sampled[s] = eng.sampler.sample(eng.ctx, j)
            first[s] = time.perf_counter() - t0
    pos = {s: len(prefix) + len(suffixes[s]) for s in range(n_seq)}
    text = {s: [] for s in range(n_seq)}
    count = dict.fromkeys(range(n_seq), 1)
    active = []
    for s in range(n_seq):
        if eng.vocab.is_eog(sampled[s]) or max_tokens <= 1:
            done[s] = time.perf_counter() - t0
        else:
            text[s].append(eng.vocab.token_to_piece(sampled[s], special=True))
            active.append(s)
    while active:
        batch = L.LlamaBatch(n_tokens=len(active), embd=0, n_seq_max=1)
        for s in active:
            batch.add(sampled[s], pos[s], [s], True)
            pos[s] += 1
        eng.ctx.decode(batch)
        still = []
        for j, s in enumerate(active):
            tok = eng.sampler.sample(eng.ctx, j)
            count[s] += 1
            if eng.vocab.is_eog(tok) or count[s] > max_tokens:
                done[s] = time.perf_counter() - t0
                continue
            sampled[s] = tok
            text[s].append(eng.vocab.token_to_piece(tok, special=True))
            still.append(s)
        active = still
    return (
        [first[s] for s in range(n_seq)],
        [done[s] for s in range(n_seq)],
        ["".join(text[s]) for s in range(n_seq)],
    )


def common_prefix(token_lists: list[list[int]]) -> int:
    n = min(len(t) for t in token_lists) - 1
    keep = 0
    while keep < n and all(t[keep] == token_lists[0][keep] for t in token_lists):
        keep += 1
    return keep


def summary(first_s, done_s) -> dict:
    wall = max(done_s)
    return {
        "answers_per_min": round(60 * len(done_s) / wall, 2),
        "wall_s": round(wall, 2),
        "first_token_p50_s": round(statistics.median(first_s), 2),
        "first_token_max_s": round(max(first_s), 2),
        "done_p50_s": round(statistics.median(done_s), 2),
    }


def cmd_run(args) -> None:
    import cyllama

    prompts = [p["prompt"] for p in json.loads(Path(args.prompts).read_text(encoding="utf-8"))]
    threads = args.threads or os.cpu_count() or 1
    result = {"cyllama": getattr(cyllama, "__version__", "?"), "python": sys.version.split()[0]}
    for n in args.parallel:
        group = prompts[:n]
        if len(group) < n:
            raise SystemExit(f"--parallel {n} needs {n} prompts; {args.prompts} has {len(prompts)}")
        for mode in ("sequential", "batched"):
            eng = Engine(args.model, n if mode == "batched" else 1, 2048, threads)
            toks = [eng.tokens(p) for p in group]
            keep = common_prefix(toks)
            prefix, suffixes = toks[0][:keep], [t[keep:] for t in toks]
            eng.read(prefix, 0, 0)  # the steady state: the shared part already read
            runner = run_sequential if mode == "sequential" else run_batched
            f, d, out = runner(eng, prefix, suffixes, args.max_tokens)
            measured = summary(f, d)
            row = measured | {
                "prefix_tokens": keep,
                "suffix_tokens_mean": round(statistics.mean(len(s) for s in suffixes)),
                "answers": out,
            }
            result[f"{mode}-{n}"] = row
            print(
                f"cyllama {result['cyllama']} {mode:10s} x{n}: {json.dumps(measured)}",
                file=sys.stderr,
                flush=True,
            )
            del eng
    print(json.dumps(result))


def cmd_compare(args) -> None:
    runs: list[dict] = []
    for rep in range(args.reps + 1):
        for py in args.python:
            cmd = [
                py,
                __file__,
                "run",
                str(args.prompts),
                "--model",
                str(args.model),
                "--max-tokens",
                str(args.max_tokens),
                "--parallel",
                *map(str, args.parallel),
            ]
            load = os.getloadavg()[0]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            row |= {"rep": rep, "load_before": round(load, 2)}
            runs.append(row)
            print(json.dumps({k: v for k, v in row.items() if not isinstance(v, dict)}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1), encoding="utf-8")
    print("\n| cyllama | users | mode | answers/min | first token p50 / max | all done |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in runs:
        for n in args.parallel:
            for mode in ("sequential", "batched"):
                r = row[f"{mode}-{n}"]
                print(
                    f"| {row['cyllama']} | {n} | {mode} | {r['answers_per_min']} | "
                    f"{r['first_token_p50_s']} / {r['first_token_max_s']} s | {r['wall_s']} s |"
                )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prompts", help="render reader prompts from the whole-corpus store")
    p.add_argument("out", type=Path)
    p.add_argument("--store", type=Path, default=Path("/tmp/newsqa-rtqa/store"))
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--every", type=int, default=97, help="take every Nth answerable question")
    for name in ("run", "compare"):
        p = sub.add_parser(name)
        p.add_argument("prompts", type=Path)
        p.add_argument("--model", type=Path, required=True, help="a GGUF file")
        p.add_argument("--parallel", type=int, nargs="+", default=[4, 8])
        p.add_argument("--max-tokens", type=int, default=24)
        if name == "run":
            p.add_argument("--threads", type=int, default=0)
        else:
            p.add_argument("--python", nargs="+", default=[sys.executable])
            p.add_argument("--reps", type=int, default=0, help="extra alternated repetitions")
            p.add_argument("--json", type=Path)
    args = ap.parse_args()
    {"prompts": cmd_prompts, "run": cmd_run, "compare": cmd_compare}[args.cmd](args)


if __name__ == "__main__":
    main()
