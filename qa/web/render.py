"""The HTML of the chat: answers with their [n] links, source cards with the quoted passage
highlighted, the streamed draft and the queue line. Gradio-free: plain functions of an `Answer`.

Article text is written by strangers: everything taken from an article is escaped here, every
line break too (the chat's markdown reads "\r" as one), and only http(s) URLs become links.
"""

from __future__ import annotations

import html
import re
import uuid
from urllib.parse import urlsplit

from ..markers import ONE
from ..types import Answer, Source, web_url

CONTEXT_CHARS = 280  # passage text shown either side of a highlighted quote
# Every line break Python or JavaScript knows: the chat's markdown parser reads "\r" as one, and
# a streamed "\r\r![x](http://...)" ended our HTML block and became an image the browser fetched.
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def esc(text: str | None) -> str:
    """Text -> HTML: escaped, line breaks as <br> (a blank line would end the HTML block)."""
    return _LINE_BREAK.sub("<br>", html.escape(text or "", quote=True))


def link(url: str | None, text: str) -> str:
    href = web_url(url)
    if not href:
        return esc(text)
    return (
        f'<a href="{html.escape(href, quote=True)}" target="_blank" '
        f'rel="noopener noreferrer nofollow">{esc(text)}</a>'
    )


def highlight(passage: str, quote: str) -> str:
    """The passage around the quote, escaped, with the quote in <mark>."""
    passage = " ".join(passage.split())
    words = quote.split()
    found = re.search(r"\s+".join(map(re.escape, words)), passage) if words else None
    if not found:
        return f"<mark>{esc(' '.join(words))}</mark>" if words else esc(_trim(passage, 480, "end"))
    before = _trim(passage[: found.start()], CONTEXT_CHARS, "start")
    after = _trim(passage[found.end() :], CONTEXT_CHARS, "end")
    return f"{esc(before)}<mark>{esc(found.group(0))}</mark>{esc(after)}"


def _trim(text: str, limit: int, keep: str) -> str:
    """Text cut to about `limit` characters at a word boundary, keeping its start or end."""
    if len(text) <= limit:
        return text
    if keep == "end":  # keep the part next to the quote, which follows it
        return text[:limit].rsplit(" ", 1)[0] + " …"
    return "… " + text[-limit:].split(" ", 1)[-1]


def _source_card(src: Source, body: str, number: int | None = None, anchor: str = "") -> str:
    meta = " · ".join(
        esc(x) for x in (src.source, src.published, urlsplit(web_url(src.url) or "").netloc) if x
    )
    # What produced the article: an upload's outlet and link are only what the upload claims.
    meta += f'<div class="nq-origin">{esc(src.origin_label())}</div>'
    if src.also_reported:
        meta += f'<div class="nq-also">also reported by: {esc(src.also_label())}</div>'
    num = f'<span class="nq-num">[{number}]</span>' if number else ""
    id_attr = f' id="{anchor}"' if anchor else ""
    return (
        f'<div class="nq-source"{id_attr}><div class="nq-head">{num}'
        f"{link(src.url, src.title or 'Untitled')}</div>"
        f'<div class="nq-meta">{meta}</div><div class="nq-passage">{body}</div></div>'
    )


def render_partial(text: str) -> str:
    """An answer still being written."""
    return f'<div class="nq-answer">{esc(text)}<span class="nq-cursor"> ▍</span></div>'


def render_waiting(ahead: int, eta: float | None) -> str:
    """Where a question is in the local model's queue, and about how long until its turn."""
    if ahead == 0:
        line = "Your turn: the model is answering your question."
    else:
        wait = f"about {about(eta)}" if eta is not None else "the wait is not known yet"
        line = f"In line for the model: {questions(ahead)} ahead of yours, {wait}."
    return f'<div class="nq-queue">{esc(line)}</div>'


def questions(n: int) -> str:
    return f"{n} question{'s' * (n != 1)}"


def about(seconds: float) -> str:
    """A wait in whole seconds, or minutes past 100 s: "40 s", "3 min"."""
    return f"{max(1, round(seconds))} s" if seconds < 99.5 else f"{round(seconds / 60)} min"


# What an answer across articles (qa/paragraph.py) is, over its text.
KIND_LABELS = {"summary": "Summary", "timeline": "Timeline", "comparison": "What the outlets say"}


def render_answer(answer: Answer, turn: str | None = None, filtered: bool = False) -> str:
    """A final answer: text with linked [n] markers, its cited sources, the other passages.

    Cited sources are renumbered 1, 2, ... in the order the answer cites them; `turn` makes the
    anchors unique within the chat.
    """
    turn = turn or uuid.uuid4().hex[:8]
    searched = (
        f'<div class="nq-searched">Searched for: {esc(answer.standalone_question)}</div>'
        if answer.standalone_question
        else ""
    )
    if answer.refused or not answer.citations:
        hint = (
            "Try rephrasing, or widen the outlet and date filters."
            if filtered
            else "Try rephrasing, or add articles that cover it in the Articles tab."
        )
        return (
            f'<div class="nq-refusal"><span class="nq-refusal-icon">⊘</span>'
            f'{esc(answer.text)}<div class="nq-hint">{hint}</div></div>{searched}'
        )
    by_n = {s.n: s for s in answer.sources}
    cited = {c.n: c for c in answer.citations if c.n in by_n}
    order = [n for n in dict.fromkeys(int(m) for m in ONE.findall(answer.text)) if n in cited]
    order += [n for n in sorted(cited) if n not in order]
    number = {n: i for i, n in enumerate(order, start=1)}

    def cite(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in number:
            return m.group(0)
        src = by_n[n]
        return (
            f'<a class="nq-cite" href="#nq-{turn}-{number[n]}" title="{esc(src.title)}">'
            f"[{number[n]}]</a>"
        )

    text = ONE.sub(cite, esc(answer.text))
    cards = "".join(
        _source_card(
            by_n[n], highlight(by_n[n].text, cited[n].quote), number[n], f"nq-{turn}-{number[n]}"
        )
        for n in order
    )
    short = (
        f'<div class="nq-short"><strong>{esc(answer.headline)}</strong></div>'
        if answer.headline
        else ""
    )
    across = (
        f'<div class="nq-kind">{esc(KIND_LABELS[answer.kind])} · '
        f"{len({c.article_id for c in answer.citations})} articles</div>"
        if answer.kind in KIND_LABELS
        else ""
    )
    parts = [
        f'<div class="nq-answer">{across}{short}{text}</div>',
        searched,
        f'<details class="nq-sources" open><summary>Sources ({len(order)})</summary>'
        f"{cards}</details>",
    ]
    others = [s for s in answer.sources if s.n not in cited]
    if others:
        cards = "".join(
            _source_card(s, esc(_trim(" ".join(s.text.split()), 480, "end"))) for s in others
        )
        parts.append(
            f'<details class="nq-other"><summary>Other retrieved passages '
            f"({len(others)})</summary>{cards}</details>"
        )
    return "".join(parts)


def counted(articles: list, outlets: list) -> str:
    """'1 article', '3 articles from 2 outlets': no 'from 0 outlets' for pasted pages."""
    text = f"{len(articles)} article" + ("" if len(articles) == 1 else "s")
    if outlets:
        text += f" from {len(outlets)} outlet" + ("" if len(outlets) == 1 else "s")
    return text


def ui_error(message: str) -> str:
    """A message for a gr.Error toast, which Gradio renders as (sanitised) HTML: show it as text."""
    return html.escape(message, quote=False)
