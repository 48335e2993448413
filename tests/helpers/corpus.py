"""Paths and ids of the project's own small corpus, the JSON shape of an answer, and a
passage builder."""

from __future__ import annotations

from pathlib import Path

from qa.types import Source

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLES = ROOT / "samples" / "news"
SAMPLE_QA = ROOT / "samples" / "qa.jsonl"
SHARED = ROOT.parent / "shared" / "data"
TESLA_ID = "ue2a2680cd103aada"
# The JSON shape of an answer (`newsqa ask --json`, the UI's /ask) and of each of its citations.
ANSWER_KEYS = {
    "text",
    "short_answer",
    "refused",
    "refusal_reason",
    "kind",
    "citations",
    "sources",
    "standalone_question",
    "raw_text",
}
CITATION_KEYS = {"n", "article_id", "title", "source", "published", "url", "quote"}


def passage(n: int, article_id: str, text: str, **fields) -> Source:
    """A retrieved passage (chunk 0 of its article), numbered `n`, for the reader's and the
    checks' tests; `fields` are the rest of Source's (title, source as the outlet, published)."""
    fields.setdefault("title", "")
    return Source(n=n, chunk_id=f"{article_id}:0", article_id=article_id, text=text, **fields)
