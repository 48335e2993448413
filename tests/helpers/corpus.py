"""Paths and ids of the project's own small corpus, and the JSON shape of an answer."""

from __future__ import annotations

from pathlib import Path

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
    "citations",
    "sources",
    "standalone_question",
    "raw_text",
}
CITATION_KEYS = {"n", "article_id", "title", "source", "published", "url", "quote"}
