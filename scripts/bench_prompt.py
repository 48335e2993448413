"""Time the local model on real answer prompts: whole prompt read each time vs the cached prefix.

    .venv/bin/python scripts/bench_prompt.py RESULTS.jsonl [--model qwen2.5-1.5b] [--n 8]
    .venv/bin/python scripts/bench_prompt.py --speed [--model qwen2.5-1.5b]

RESULTS.jsonl is a `newsqa eval` results file: its rows hold the question, its date and the
passages the model was shown. Each prompt is asked twice in a row: once after clearing the
model's KV cache (every token read, as cyllama does by default) and once with the cache as the
previous question left it (`qa.models.generate` reads only what differs: the worked examples
and instructions are shared). Prints the first-token and whole-answer seconds of both, and the
prompt's length in tokens.

With --speed, texts of about 100, 200, 400 and 800 tokens (this project's README) are read cold,
three times each, and the median tokens a second printed: how long a prompt the model can read
before its first token within a given time on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.context import shown_sources  # noqa: E402
from qa.eval.score import row_sources  # noqa: E402
from qa.models import generate, get_chat_model  # noqa: E402
from qa.prompts import SHORT_PROMPT, answer_inputs  # noqa: E402
from qa.settings import get_settings  # noqa: E402
from vectorstore.embed import make_embeddings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def prompt_maker(settings):
    """A results row -> the prompt's inputs, its passages shown as the configured context shows
    them to the model (`qa.context.shown_sources`)."""
    r = settings.retrieval
    embed = make_embeddings(settings.store).embed_documents if r.context == "pool" else None

    def inputs(row: dict) -> dict:
        shown = shown_sources(row["question"], row_sources(row), r, embed)
        return answer_inputs(row["question"], shown, r.headings, row.get("question_date"))

    return inputs


def timed(model, inputs: dict) -> tuple[float, float, str]:
    messages = SHORT_PROMPT.format_messages(**inputs)
    start, first, text = time.perf_counter(), None, ""
    for chunk in model.stream(messages, stop=["\n"]):
        first = first or time.perf_counter() - start
        text += str(chunk.content)
    return first or 0.0, time.perf_counter() - start, text


def speed(model) -> None:
    """Prompt reading speed: tokens a second for cold prompts of growing length."""
    from cyllama import GenerationConfig

    llm, words = model._llm, (ROOT / "README.md").read_text("utf-8").split()
    config = GenerationConfig(temperature=0.0, max_tokens=1, n_ctx=4096, seed=0)
    for n in (100, 200, 400, 800):
        text = " ".join(words[: int(n * 0.75)])
        tokens = len(llm.vocab.tokenize(text, add_special=True, parse_special=True))
        seconds = []
        for _ in range(3):
            llm.cached_tokens = []
            llm._ensure_context(10, config).kv_cache_clear()
            start = time.perf_counter()
            list(generate(llm, text, config))
            seconds.append(time.perf_counter() - start)
        med = statistics.median(seconds)
        print(f"{tokens:4d} tokens read in {med:5.2f} s: {tokens / med:5.1f} tokens/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, nargs="?")
    parser.add_argument("--model", default=None, help="qwen2.5-0.5b or qwen2.5-1.5b")
    parser.add_argument("--n", type=int, default=8, help="prompts to time")
    parser.add_argument("--speed", action="store_true", help="tokens a second, cold prompts")
    args = parser.parse_args()
    settings = get_settings({"llm": {"local_model": args.model}} if args.model else None)
    model = get_chat_model(settings)
    if args.speed:
        speed(model)
        return 0
    if args.results is None:
        parser.error("give a results.jsonl, or --speed")
    rows = [json.loads(line) for line in args.results.read_text("utf-8").splitlines()]
    rows = [r for r in rows if r.get("sources")][: args.n]
    cold, warm, lengths = [], [], []
    prompt_inputs = prompt_maker(settings)  # what the model reads of each row's passages
    timed(model, prompt_inputs(rows[-1]))  # loads the model
    for i, row in enumerate(rows):
        model._llm.cached_tokens = []  # nothing cached: every token of the prompt is read
        model._llm._ctx.kv_cache_clear()
        cold.append(timed(model, prompt_inputs(row)))
        lengths.append(len(model._llm.cached_tokens))
        timed(model, prompt_inputs(rows[i - 1]))  # the question before it, as in use
        warm.append(timed(model, prompt_inputs(row)))
        print(
            f"{lengths[-1]:4d} tokens  cold first {cold[-1][0]:5.2f} s total {cold[-1][1]:5.2f} s"
            f"  cached prefix first {warm[-1][0]:5.2f} s total {warm[-1][1]:5.2f} s"
            f"  {warm[-1][2]!r}"
        )
    med = statistics.median
    print(
        f"\nmodel {settings.llm.local_model}, {len(rows)} prompts, median {med(lengths):.0f} "
        f"tokens: first token {med(c[0] for c in cold):.2f} s -> {med(w[0] for w in warm):.2f} s, "
        f"whole answer {med(c[1] for c in cold):.2f} s -> {med(w[1] for w in warm):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
