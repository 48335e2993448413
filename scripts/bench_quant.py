"""Prompt-reading speed of the bundled 1.5B GGUF against a copy requantized by llama.cpp.

    .venv/bin/python scripts/bench_quant.py [--model qwen2.5-1.5b] [--ftype 2] [--reps 3]

The bundled file is Q4_K_M. llama.cpp (inside cyllama) can requantize it on this machine
(`--ftype 2` is Q4_0, which llama.cpp's CPU backend repacks for AVX2; 7 is Q8_0). Both models are
loaded once and asked the same prompt in turn, `--reps` times, with the KV cache cleared before
each ask, so the whole prompt is read each time (the first-token figure of an uncached answer).
Prints each ask and the medians: compare the two within one run, the cores being shared.
Speed only: a requantized model's answers are not measured here (that needs `newsqa eval`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.models import LocalChatModel, generate, local_model_path  # noqa: E402
from qa.settings import get_settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def requantize(source: Path, target: Path, ftype: int) -> float:
    from cyllama.llama import llama_cpp

    params = llama_cpp.LlamaModelQuantizeParams()
    params.ftype, params.allow_requantize, params.nthread = ftype, True, 2
    start = time.perf_counter()
    llama_cpp.model_quantize(str(source), str(target), params)
    return time.perf_counter() - start


def first_token(model: LocalChatModel, messages: list[dict]) -> tuple[float, float, int, str]:
    from cyllama import GenerationConfig

    llm = model._llm
    prompt = llm._apply_template(messages)
    config = GenerationConfig(temperature=0.0, max_tokens=24, n_ctx=4096, seed=0)
    llm._ensure_context(10, config).kv_cache_clear()
    llm.cached_tokens = []
    n = len(list(llm.vocab.tokenize(prompt, add_special=True, parse_special=True)))
    start = time.perf_counter()
    tokens = generate(llm, prompt, config)
    head = next(tokens)
    first = time.perf_counter() - start
    rest = "".join(tokens)
    return first, time.perf_counter() - start - first, n, head + rest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-1.5b")
    parser.add_argument("--ftype", type=int, default=2, help="llama.cpp file type (2 = Q4_0)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--article", type=Path, default=ROOT / "samples/news")
    args = parser.parse_args()
    source = local_model_path(args.model, get_settings().cache_dir)
    article = args.article if args.article.is_file() else sorted(args.article.glob("*.txt"))[0]
    messages = [
        {"role": "system", "content": "Answer the question from the sources."},
        {"role": "user", "content": article.read_text()[:2200] + "\n\nQuestion: What happened?"},
    ]
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / f"requantized-{args.ftype}.gguf"
        seconds = requantize(source, target, args.ftype)
        print(
            f"requantized to file type {args.ftype} in {seconds:.1f} s: "
            f"{source.stat().st_size / 1e6:.0f} MB -> {target.stat().st_size / 1e6:.0f} MB"
        )
        models = {
            "bundled": LocalChatModel(model_path=str(source)).load(),
            f"ftype {args.ftype}": LocalChatModel(model_path=str(target)).load(),
        }
        firsts: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(args.reps):
            for name, model in models.items():
                first, rest, n, text = first_token(model, messages)
                firsts[name].append(first)
                print(
                    f"{name}: {n} prompt tokens, first token {first:.2f} s, "
                    f"24 more in {rest:.2f} s: {text[:50]!r}",
                    flush=True,
                )
        base = statistics.median(firsts["bundled"])
        for name, values in firsts.items():
            median = statistics.median(values)
            print(f"{name}: median first token {median:.2f} s (x{median / base:.2f})")


if __name__ == "__main__":
    main()
