from vectorstore.ingest.chunk import chunk_article
from vectorstore.ingest.text import split_sentences
from vectorstore.types import Article


def _article(text: str, **kw) -> Article:
    return Article(
        title="Harbor votes on bike lanes",
        text=text,
        source="Metro Wire",
        published="2024-02-13",
        url="https://metro.example/a",
        **kw,
    )


def test_chunks_follow_sentences_and_overlap():
    sentences = [f"Sentence number {i} says the council met on Mill Street." for i in range(60)]
    text = "\n\n".join(" ".join(sentences[i : i + 5]) for i in range(0, 60, 5))
    chunks = chunk_article(_article(text), size=400, overlap=120)
    assert len(chunks) > 5
    for chunk in chunks:
        assert len(chunk.text) <= 400
        assert chunk.text.startswith("Sentence number") and chunk.text.endswith(".")
    # neighbours share whole sentences
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert split_sentences(b.text)[0] in a.text
    # every sentence is somewhere
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)


def test_chunk_ids_are_stable_and_carry_metadata():
    article = _article("One sentence. " * 200)
    first = chunk_article(article, 300, 50)
    again = chunk_article(_article("One sentence. " * 200), 300, 50)
    assert [c.id for c in first] == [c.id for c in again]
    assert first[0].id == f"{article.id}:0"
    meta = first[0].metadata
    assert meta["title"] == article.title and meta["source"] == "Metro Wire"
    assert meta["published"] == "2024-02-13" and meta["published_ts"] == 1707782400
    assert meta["chunks"] == len(first)
    # what is embedded names the article and its date
    assert first[-1].embed_text.startswith("Harbor votes on bike lanes (Metro Wire, 2024-02-13)\n")


def test_unknown_fields_stay_out_of_metadata():
    article = Article(title="Untitled note", text="A short text about a storm.")
    meta = chunk_article(article)[0].metadata
    assert "published_ts" not in meta and meta["source"] == "" and meta["url"] == ""
    assert article.id.startswith("h")  # no URL: the id comes from the content


def test_overlong_sentence_is_cut_on_words():
    chunks = chunk_article(_article("word " * 1000), size=300, overlap=0)
    assert all(len(c.text) <= 300 for c in chunks)
    assert all(not c.text.startswith(" ") for c in chunks)
