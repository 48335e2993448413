"""Hybrid retrieval: fusion math, exact-name matches, the date prior, filters, a Chroma server."""

from __future__ import annotations

from datetime import date

import pytest

from qa.features import date_prior, date_window_filters, question_terms
from qa.retrieve import DenseRetriever, HybridParams, HybridRetriever, make_retriever, rrf
from qa.settings import RetrievalSettings
from vectorstore.config import StoreSettings
from vectorstore.keyword import KeywordIndex
from vectorstore.store import NewsStore
from vectorstore.types import Article, Filters

FILLER = (
    "The council met on Tuesday and the harbor budget debate ran long, with members "
    "trading figures on ferries, piers, parking and the new seawall. "
)


def corpus() -> list[Article]:
    """Ten articles about the harbor budget, and one that names Zorbulon once in a long text."""
    out = [
        Article(
            title=f"Harbor budget vote {n}",
            id=f"h{n}",
            source="CNN",
            published=f"2024-05-{n + 1:02d}",
            text=f"The harbor budget was announced. Officials announced harbor budget "
            f"cuts number {n}.",
        )
        for n in range(10)
    ]
    out.append(
        Article(
            title="Council notes",
            id="zorb",
            source="USA Today",
            published="2024-05-20",
            text=FILLER + "Zorbulon announced his resignation from the harbor board.",
        )
    )
    return out


@pytest.fixture
def hybrid(tmp_path, fake_embeddings):
    settings = StoreSettings(path=tmp_path / "store")
    index = KeywordIndex.for_store(settings)
    store = NewsStore(settings, fake_embeddings, listeners=[index])
    report = store.ingest(corpus(), progress=False)
    assert not report.failed
    return HybridRetriever(store, HybridParams(candidates=20))


def article_ids(found) -> list[str]:
    return [d.metadata["article_id"] for d, _ in found]


def test_rrf_is_weighted_reciprocal_rank():
    fused = rrf([["a", "b"], ["b", "c"]], [1.0, 0.5], k=60)
    assert fused == pytest.approx({"b": 1 / 62 + 0.5 / 61, "a": 1 / 61, "c": 0.5 / 62})
    assert list(fused) == ["b", "a", "c"]
    assert rrf([["a"], ["z"]], [1.0, 0.0], k=60) == {"a": 1 / 61, "z": 0.0}


def test_hybrid_finds_an_exact_name_that_dense_misses(hybrid):
    question = "What did Zorbulon announce about the harbor budget?"
    dense = DenseRetriever(hybrid.store).retrieve(question, 3)
    assert "zorb" not in article_ids(dense)
    found = hybrid.retrieve(question, 3)
    assert article_ids(found)[0] == "zorb"
    doc, score = found[0]
    assert 0 < score <= 1  # the dense similarity, so min_score keeps its meaning
    assert doc.metadata["retrieval"]["match"] == 1.0


def test_question_terms_are_names_and_numbers_not_sentence_starts():
    assert question_terms("Which team won? The Gulls beat Harbor FC 3-1 in 2024.") == [
        "gull",
        "harbor",
        "fc",
        "3",
        "1",
        "2024",
    ]


def test_date_prior_window_and_decay():
    day = date(2024, 5, 10)
    assert date_prior(day, "2024-05-06", (-1, 7), 7.0) == 1.0
    assert date_prior(day, "2024-05-11", (-1, 7), 7.0) == 1.0
    assert date_prior(day, "2024-04-26", (-1, 7), 7.0) == pytest.approx(0.3679, 1e-3)
    assert date_prior(None, "2024-05-06", (-1, 7), 7.0) == 0.0
    assert date_prior(day, "", (-1, 7), 7.0) == 0.0


def test_date_window_filters_narrow_the_users_filters():
    window = date_window_filters(
        Filters(sources=["CNN"], date_to="2024-05-08"), "2024-05-10", (-1, 7)
    )
    assert window == Filters(sources=["CNN"], date_from="2024-05-03", date_to="2024-05-08")
    assert date_window_filters(Filters(date_to="2024-01-01"), "2024-05-10", (-1, 7)) is None
    assert date_window_filters(None, None, (-1, 7)) is None


def test_question_date_prefers_articles_from_the_days_before(hybrid):
    question = "The harbor budget was announced with cuts."
    without = article_ids(hybrid.retrieve(question, 10))
    assert without[:3] == ["h0", "h1", "h2"]  # published 2024-05-01 .. 05-03
    dated = article_ids(hybrid.retrieve(question, 10, question_date="2024-05-12"))
    # The window (-1, 7) is 2024-05-05 .. 05-13: h4 .. h9 (h9 = 05-10).
    assert set(dated[:6]) == {f"h{n}" for n in range(4, 10)}


def test_filters_are_honoured(hybrid):
    question = "What did Zorbulon announce about the harbor budget?"
    found = hybrid.retrieve(question, 10, Filters(sources=["CNN"]))
    assert found and "zorb" not in article_ids(found)
    found = hybrid.retrieve(
        question,
        10,
        Filters(date_from="2024-05-05", date_to="2024-05-07"),
        question_date="2024-05-21",
    )
    assert sorted(article_ids(found)) == ["h4", "h5", "h6"]


def test_passages_per_article_are_capped(tmp_path, fake_embeddings):
    settings = StoreSettings(path=tmp_path / "store", chunk_size=200, chunk_overlap=0)
    index = KeywordIndex.for_store(settings)
    store = NewsStore(settings, fake_embeddings, listeners=[index])
    text = " ".join(f"Zebras crossed the river on day {n}." for n in range(30))
    store.ingest(
        [
            Article(title="Zebras", text=text, id="z"),
            Article(title="Lions", text="Zebras were seen by lions.", id="l"),
        ],
        progress=False,
    )
    found = HybridRetriever(store, HybridParams(max_per_article=2)).retrieve("zebras", 5)
    assert article_ids(found).count("z") == 2 and "l" in article_ids(found)


def test_dense_retriever_accepts_a_question_date(hybrid):
    assert DenseRetriever(hybrid.store).retrieve("harbor", 2, question_date="2024-05-01")


def test_make_retriever_attaches_and_repairs_the_index(tmp_path, fake_embeddings):
    settings = StoreSettings(path=tmp_path / "store")
    store = NewsStore(settings, fake_embeddings)
    store.ingest(corpus()[:3], progress=False)  # written before any index existed
    retriever = make_retriever(store, RetrievalSettings(mode="hybrid"))
    assert isinstance(retriever, HybridRetriever)
    assert len(retriever.store.keyword) == 3
    store.ingest(corpus()[3:], progress=False)  # reaches the index as a listener
    assert len(retriever.store.keyword) == len(corpus())
    assert isinstance(make_retriever(store, RetrievalSettings(mode="dense")), DenseRetriever)


def test_chain_passes_the_question_date_to_the_retriever(settings, fake_embeddings, fake_chat):
    from qa.chain import NewsQA

    seen = {}

    class Spy:
        def retrieve(self, query, k, filters=None, question_date=None):
            seen.update(query=query, question_date=question_date)
            return []

    qa = NewsQA(settings, embeddings=fake_embeddings, chat_model=fake_chat, retriever=Spy())
    qa.ask("Who resigned?", question_date="2024-05-10")
    assert seen == {"query": "Who resigned?", "question_date": "2024-05-10"}


# --- a Chroma server (the fixture is in conftest.py) ---------------------------------------
def test_a_chroma_server_ingests_and_searches(tmp_path, fake_embeddings, chroma_server):
    settings = StoreSettings(
        path=tmp_path / "local", chroma_host="127.0.0.1", chroma_port=chroma_server.port
    )
    index = KeywordIndex.for_store(settings)
    store = NewsStore(settings, fake_embeddings, listeners=[index])
    report = store.ingest(corpus(), progress=False)
    assert len(report.added) == len(corpus()) and not report.failed
    assert store.count() == len(corpus())
    assert not (tmp_path / "local" / "chroma.sqlite3").exists()  # the data lives in the server
    again = store.ingest(corpus(), progress=False)
    assert len(again.unchanged) == len(corpus())
    found = HybridRetriever(store).retrieve("Zorbulon resignation", 2)
    assert article_ids(found)[0] == "zorb"
    assert index.sync(store) == {"added": 0, "removed": 0, "refreshed": 0}


def test_today_is_the_question_date_only_for_questions_that_say_when():
    from datetime import date

    from qa.features import question_date_for

    today = date(2026, 12, 2)
    for question in (
        "Which airline ordered 50 new jets this week?",
        "What did the mayor say yesterday?",
        "Who recently resigned from the board?",
        "What happened on Tuesday at the harbor?",
    ):
        assert question_date_for(question, today) == "2026-12-02", question
    for question in ("What did Tesla agree with Baidu?", "Who won the 2024 Tour de France?"):
        assert question_date_for(question, today) is None, question


def test_the_retrievers_are_langchain_retrievers(hybrid):
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.retrievers import BaseRetriever

    class Seen(BaseCallbackHandler):
        def __init__(self):
            self.events = []

        def on_retriever_start(self, serialized, query, **kwargs):
            self.events.append(("start", query))

        def on_retriever_end(self, documents, **kwargs):
            self.events.append(("end", len(documents)))

    question = "What did Zorbulon announce about the harbor budget?"
    seen, expected = Seen(), []
    for retriever in (hybrid, DenseRetriever(hybrid.store)):
        assert isinstance(retriever, BaseRetriever)
        scope = Filters(sources=["USA Today"])
        docs = retriever.invoke(
            question, config={"callbacks": [seen]}, k=2, filters=scope, question_date="2024-05-21"
        )
        direct = retriever.retrieve(question, 2, scope, "2024-05-21")
        assert [d.id for d in docs] == [d.id for d, _ in direct] and docs
        assert [d.metadata["score"] for d in docs] == [s for _, s in direct]
        assert {d.metadata["source"] for d in docs} == {"USA Today"}  # the filter went through
        expected += [("start", question), ("end", len(docs))]
    assert seen.events == expected
    assert hybrid.invoke(question)[0].metadata["article_id"] == "zorb"  # k defaults to 4
    tool = hybrid.as_tool(name="news_search", description="Search the stored news articles.")
    assert tool.invoke(question)[0].metadata["article_id"] == "zorb"
    # The store's collection as a LangChain vector store, through langchain-chroma's public API.
    found = hybrid.store.vectorstore.similarity_search("Zorbulon resignation harbor board", k=3)
    assert found and all(d.metadata.get("article_id") for d in found)
