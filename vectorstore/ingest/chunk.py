"""Articles -> chunks that follow sentence and paragraph boundaries, with overlap and stable ids."""

from __future__ import annotations

from ..types import Article, Chunk
from .text import split_paragraphs, split_sentences


def chunk_article(article: Article, size: int = 800, overlap: int = 150) -> list[Chunk]:
    """Cut an article into chunks of about `size` characters that end on sentence boundaries.

    Neighbouring chunks share up to `overlap` characters of whole sentences, and a chunk never
    starts in the middle of a sentence. Each chunk's `embed_text` is prefixed with the title, outlet
    and date so that a passage read out of context still matches questions about its article.
    """
    pieces = _sentences_with_breaks(article.text, size)
    texts = _pack(pieces, size, overlap)
    header = embed_header(article)
    total = len(texts)
    return [
        Chunk(
            id=f"{article.id}:{n}",
            text=text,
            embed_text=f"{header}\n{text}",
            metadata=chunk_metadata(article, n, total),
        )
        for n, text in enumerate(texts)
    ]


def embed_header(article: Article) -> str:
    details = ", ".join(x for x in (article.source, article.published) if x)
    return f"{article.title} ({details})" if details else article.title


def chunk_metadata(article: Article, n: int, total: int) -> dict:
    """Chroma metadata: scalars only, so unknown values are left out rather than set to None."""
    meta = {
        "article_id": article.id,
        "title": article.title,
        "source": article.source,
        "author": article.author,
        "published": article.published,
        "url": article.url or "",
        "fingerprint": article.fingerprint,
        "origin": article.provenance or "operator",
        "chunk": n,
        "chunks": total,
    }
    if article.published_ts is not None:
        meta["published_ts"] = article.published_ts
    return meta


def _sentences_with_breaks(text: str, size: int) -> list[tuple[str, bool]]:
    """(sentence, starts_paragraph) pairs; over-long sentences are cut on word boundaries."""
    out: list[tuple[str, bool]] = []
    for paragraph in split_paragraphs(text):
        for i, sentence in enumerate(split_sentences(paragraph)):
            for j, part in enumerate(_cut_long(sentence, size)):
                out.append((part, i == 0 and j == 0))
    return out


def _cut_long(sentence: str, size: int) -> list[str]:
    if len(sentence) <= size:
        return [sentence]
    parts, current = [], ""
    for word in sentence.split(" "):
        if current and len(current) + 1 + len(word) > size:
            parts.append(current)
            current = word[:size]
        else:
            current = f"{current} {word}" if current else word[:size]
    if current:
        parts.append(current)
    return parts


def _pack(pieces: list[tuple[str, bool]], size: int, overlap: int) -> list[str]:
    chunks: list[list[tuple[str, bool]]] = []
    current: list[tuple[str, bool]] = []
    length = 0
    for piece in pieces:
        if current and length + len(piece[0]) + 1 > size:
            chunks.append(current)
            current = _tail(current, overlap)
            length = sum(len(s) + 1 for s, _ in current)
        current.append(piece)
        length += len(piece[0]) + 1
    if current and (not chunks or current != _tail(chunks[-1], overlap)):
        chunks.append(current)
    return [_join(c) for c in chunks]


def _tail(sentences: list[tuple[str, bool]], overlap: int) -> list[tuple[str, bool]]:
    """The last whole sentences of a chunk that fit in `overlap` characters."""
    tail: list[tuple[str, bool]] = []
    length = 0
    for sentence in reversed(sentences):
        length += len(sentence[0]) + 1
        if length > overlap:
            break
        tail.insert(0, sentence)
    return tail


def _join(sentences: list[tuple[str, bool]]) -> str:
    text = ""
    for i, (sentence, new_paragraph) in enumerate(sentences):
        sep = "" if i == 0 else ("\n\n" if new_paragraph else " ")
        text += sep + sentence
    return text
