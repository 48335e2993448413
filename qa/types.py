"""What `ask()` returns: an answer that owns its citations and renders itself with its sources."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from .words import stems


def web_url(url: str | None) -> str | None:
    """The URL if it is http(s) with a host; javascript:, data: and the rest -> None.

    The one check of a link before it is stored in an answer or shown on the page.
    """
    url = (url or "").strip()
    parts = urlsplit(url)
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


class PassageRef(BaseModel):
    """Which passage of which article, numbered as the model saw it; `source` is the outlet
    (the name the stored metadata and the JSON of `ask()` have always used)."""

    n: int = Field(description="The [n] marker the passage had in the prompt.")
    chunk_id: str
    article_id: str
    title: str
    source: str = ""
    published: str = ""
    url: str | None = None


class Reprint(BaseModel):
    """Another article of the same story (a syndicated copy, vectorstore/stories.py)."""

    article_id: str
    title: str = ""
    source: str = ""
    published: str = ""
    url: str | None = None


class Source(PassageRef):
    """A retrieved passage, numbered as the model saw it."""

    text: str
    score: float = 0.0
    also_reported: list[Reprint] = Field(
        default_factory=list,
        description="The story's other articles (the same text elsewhere), not shown as passages.",
    )
    origin: str = Field(
        default="operator",
        description='What produced the article: "upload:<name>" (a web UI upload), '
        '"fetch:<url>" or "operator:<name>".',
    )

    def label(self) -> str:
        details = ", ".join(x for x in (self.source, self.published) if x)
        return f"{self.title} ({details})" if details else self.title

    def also_label(self) -> str:
        """ "Outlet B (2025-03-04), Outlet C": who else printed this story."""
        seen: dict[str, str] = {}
        for r in self.also_reported:
            name = r.source or r.title or "another article"
            if name not in seen or (r.published and r.published < seen[name]):
                seen[name] = r.published
        return ", ".join(f"{n} ({d})" if d else n for n, d in seen.items())

    def origin_label(self) -> str:
        """The origin in words, for the source card: an upload's outlet and URL are its claims."""
        kind, _, what = self.origin.partition(":")
        if kind == "upload":
            return f"uploaded in the web UI ({what})" if what else "uploaded in the web UI"
        if kind == "fetch":
            return f"fetched from {what}"
        return "added by the operator"


class Citation(PassageRef):
    """A [n] marker in the answer, with the article and the passage that supports the claim."""

    quote: str = Field(description="The sentence(s) of the source that support the claim.")

    @classmethod
    def from_source(cls, src: Source, quote: str) -> Citation:
        return cls(**src.model_dump(include=set(PassageRef.model_fields)), quote=quote)


class Answer(BaseModel):
    """A short answer with [n] markers, the citations behind them and everything retrieved."""

    question: str
    text: str
    citations: list[Citation] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    refused: bool = False
    short_answer: str | None = Field(
        default=None, description="The name, number, date or few words that answer it."
    )
    refusal_reason: str | None = Field(
        default=None,
        description="Why it was refused: nothing_retrieved, model_refused, restates_question, "
        "wrong_type, unsupported or off_topic (qa/reader.py).",
    )
    kind: str = Field(
        default="fact",
        description="What the question asked for (qa/route.py): fact (a short answer), or summary, "
        "timeline or comparison (a paragraph across articles).",
    )
    raw_text: str = Field(
        default="",
        description="What the model wrote, before any check; a line a reply (a retry or a "
        "second look over the wider passages on its own line).",
    )
    standalone_question: str | None = Field(
        default=None, description="The question rewritten from the chat history, when it was."
    )
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage.")
    done: bool = Field(default=True, description="False on the partial answers of a stream.")

    @property
    def cited_sources(self) -> list[Source]:
        cited = {c.n for c in self.citations}
        return [s for s in self.sources if s.n in cited]

    def to_json_dict(self) -> dict:
        """The shape `newsqa ask --json` prints."""
        return {
            "text": self.text,
            "short_answer": self.short_answer,
            "refused": self.refused,
            "refusal_reason": self.refusal_reason,
            "kind": self.kind,
            "citations": [
                {
                    k: c.model_dump()[k]
                    for k in ("n", "article_id", "title", "source", "published", "url", "quote")
                }
                for c in self.citations
            ],
            "sources": [s.model_dump() for s in self.sources],
            "standalone_question": self.standalone_question,
            "raw_text": self.raw_text,
        }

    @property
    def headline(self) -> str | None:
        """The short answer to show above the text, bold on the page: none when refused, or when
        it is most of the sentence shown (the sentence would be read twice)."""
        if not self.short_answer or self.refused:
            return None
        short, text = stems(self.short_answer), stems(self.text)
        if len(short) >= 6 and len(short & text) >= 0.8 * len(text):
            return None
        return self.short_answer

    def __str__(self) -> str:
        lines = [self.text]
        if self.headline:
            lines = [self.headline, "", self.text]
        if self.citations:
            lines.append("")
            for c in self.citations:
                details = ", ".join(x for x in (c.source, c.published) if x)
                head = f"[{c.n}] {c.title}" + (f" ({details})" if details else "")
                lines.append(head + (f" <{c.url}>" if c.url else ""))
                lines.append(f'    "{c.quote}"')
                shown = next((s for s in self.sources if s.chunk_id == c.chunk_id), None)
                if shown is not None and shown.also_reported:
                    lines.append(f"    also reported by: {shown.also_label()}")
        return "\n".join(lines)
