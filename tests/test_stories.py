"""Syndicated copies (vectorstore/stories.py): one story, one passage, the other outlets named."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import FakeChatModel, FakeEmbeddings

from qa.chain import NewsQA
from qa.settings import get_settings
from qa.web.render import render_answer
from vectorstore.ingest.load import load_sources
from vectorstore.stories import StoryIndex, decode, encode, signature

SYNDICATED = Path(__file__).parent / "data" / "syndicated"
QUESTION = "When will the Carrick Point lighthouse cottage open as a museum?"


def texts() -> dict[str, str]:
    return {p.stem: p.read_text().split("\n\n", 1)[1] for p in SYNDICATED.glob("*.txt")}


def test_a_signature_survives_the_store_and_garbage_does_not_pass_for_one():
    m = signature(texts()["wire-copy-bay-ledger"])
    assert decode(encode(m)).jaccard(m) == 1.0
    for bad in ("", "not base64!", encode(m)[:40], "QUFB"):
        assert decode(bad) is None


def test_copies_of_one_story_are_grouped_and_a_report_of_its_own_is_not():
    t = texts()
    index = StoryIndex(0.8)
    first, _ = index.assign("bay", t["wire-copy-bay-ledger"])
    assert first == "bay"
    assert index.assign("coast", t["wire-copy-coast-herald"])[0] == "bay"
    assert index.assign("gazette", t["own-report-harbour-gazette"])[0] == "gazette"
    # A new version of an article is matched afresh: rewritten, it leaves the story.
    assert index.assign("coast", t["own-report-harbour-gazette"] + " Updated.")[0] == "gazette"
    # Short texts are never grouped: these differ in one number and are 0.8 alike.
    short = "The harbor budget was announced. Officials announced harbor budget cuts number {}."
    assert [index.assign(f"s{n}", short.format(n))[0] for n in (1, 2)] == ["s1", "s2"]
    # Rebuilt from what the store keeps (id, story, signature), it groups the same way.
    rows = [(a, index.story[a], encode(index.signatures[a])) for a in index.signatures]
    again = StoryIndex(0.8).load(rows + [("junk", "", "###")])
    assert again.story == {a: s for a, s in index.story.items() if a in index.signatures}
    assert again.assign("herald-2", t["wire-copy-coast-herald"])[0] == "bay"


@pytest.fixture
def settings(tmp_path):
    return get_settings(
        {"store": {"path": tmp_path / "store"}, "cache_dir": tmp_path, "retrieval": {"k": 4}}
    )


def test_ingestion_keeps_the_story_and_the_next_process_goes_on_grouping(settings):
    paths = sorted(SYNDICATED.glob("*.txt"))
    bay = next(p for p in paths if "bay-ledger" in p.name)
    qa = NewsQA(settings, embeddings=FakeEmbeddings())
    assert not qa.ingest([str(bay)], progress=False).failed
    qa.close()
    # A new process: its story index is read back from the store's metadata.
    qa = NewsQA(settings, embeddings=FakeEmbeddings())
    others = [str(p) for p in paths if p != bay]
    assert not qa.ingest(others, progress=False).failed
    story = {}
    for doc in qa.store.iter_chunks():
        story.setdefault(doc.metadata["source"], set()).add(doc.metadata["story"])
    assert story["Bay Ledger"] == story["Coast Herald"]
    assert len(story["Bay Ledger"]) == 1 and story["Harbour Gazette"] != story["Bay Ledger"]
    qa.close()


def test_retrieval_shows_one_copy_and_its_card_names_the_other_outlet(settings):
    qa = NewsQA(
        settings, embeddings=FakeEmbeddings(), chat_model=FakeChatModel(replies=[], calls=[])
    )
    assert not qa.ingest([str(SYNDICATED)], progress=False).failed
    sources = qa._retrieve({"question": QUESTION})["sources"]
    outlets = [s.source for s in sources]
    copies = [s for s in sources if s.source in ("Bay Ledger", "Coast Herald")]
    assert len({s.article_id for s in copies}) == 1, outlets  # one copy of the wire story
    (copy,) = {s.article_id: s for s in copies}.values()
    other = "Coast Herald" if copy.source == "Bay Ledger" else "Bay Ledger"
    assert [r.source for r in copy.also_reported] == [other]
    assert copy.also_label() == f"{other} ({copy.also_reported[0].published})"
    assert all(not s.also_reported for s in sources if s.source == "Harbour Gazette")

    answer = qa.ask(QUESTION)
    card = render_answer(answer)
    assert copy.article_id in {s.article_id for s in answer.sources}
    assert f"also reported by: {other} (" in card
    assert answer.to_json_dict()["sources"][0].keys() >= {"also_reported"}
    qa.close()

    # With one_per_story off both copies come back as passages.
    settings.retrieval.hybrid.one_per_story = False
    qa = NewsQA(settings, embeddings=FakeEmbeddings())
    sources = qa._retrieve({"question": QUESTION})["sources"]
    assert {"Bay Ledger", "Coast Herald"} <= {s.source for s in sources}
    qa.close()


def test_the_loader_reads_the_syndicated_set():
    items = list(load_sources([str(SYNDICATED)]))
    assert sorted(a.source for a in items) == ["Bay Ledger", "Coast Herald", "Harbour Gazette"]


def test_newsqa_ask_names_the_other_outlet_with_the_real_embedding_model(env):
    """The command line over the real embedding model (the extractive reader: no chat model)."""
    import json

    from helpers import newsqa

    ingested = newsqa("ingest", str(SYNDICATED), "--json", env=env)
    assert ingested.returncode == 0 and json.loads(ingested.stdout)["added"] == 3
    asked = newsqa("ask", QUESTION, "--json", env=env)
    assert asked.returncode == 0, asked.stderr
    sources = json.loads(asked.stdout)["sources"]
    copies = [s for s in sources if s["source"] in ("Bay Ledger", "Coast Herald")]
    assert len({s["article_id"] for s in copies}) == 1
    other = {"Bay Ledger", "Coast Herald"} - {copies[0]["source"]}
    assert [r["source"] for r in copies[0]["also_reported"]] == sorted(other)


def test_the_text_answer_names_the_other_outlets_under_the_cited_passage():
    from qa.types import Answer, Citation, Reprint, Source

    src = Source(n=1, chunk_id="bay:0", article_id="bay", title="Cottage museum", text="x",
                 source="Bay Ledger", also_reported=[
                     Reprint(article_id="c", source="Coast Herald", published="2025-04-03"),
                     Reprint(article_id="d", source="Coast Herald", published="2025-04-05"),
                     Reprint(article_id="e", title="Untitled wire copy")])  # fmt: skip
    answer = Answer(question="q", text="It opens on June 14 [1].", sources=[src],
                    citations=[Citation.from_source(src, "It opens on June 14.")])  # fmt: skip
    lines = str(answer).splitlines()
    assert lines[-1] == "    also reported by: Coast Herald (2025-04-03), Untitled wire copy"
