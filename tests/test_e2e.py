"""End to end with the real offline models: the packaged MiniLM and the bundled Qwen2.5 GGUF."""

import json
import os
import re

import pytest
from helpers import ANSWER_KEYS, CITATION_KEYS, SAMPLES, SHARED, TESLA_ID, newsqa

pytestmark = pytest.mark.slow
SEED_TXT = SHARED / "seed" / "tesla-china-2024-04-29.txt"


@pytest.fixture(scope="module")
def real_qa(tmp_path_factory, model_cache):
    from qa.chain import NewsQA

    tmp = tmp_path_factory.mktemp("e2e")
    qa = NewsQA({"store": {"path": tmp / "store"}, "cache_dir": model_cache})
    report = qa.ingest([str(SAMPLES)], progress=False)
    assert report.counts()["added"] == len(list(SAMPLES.glob("*.txt"))) and not report.failed
    return qa


def test_real_models_answer_and_cite_the_tesla_article(real_qa):
    answer = real_qa.ask("What did Tesla agree with Baidu?")
    assert not answer.refused, (answer.raw_text, answer.refusal_reason)
    assert "mapping" in answer.text.lower() and "[" in answer.text
    assert answer.raw_text.startswith("Answer:")  # the 1.5B says "Baidu": the sentence answers
    cited = {c.article_id: c for c in answer.citations}
    assert TESLA_ID in cited
    assert "mapping license" in cited[TESLA_ID].quote
    assert cited[TESLA_ID].published == "2024-04-29"


def test_real_models_refuse_what_the_articles_do_not_say(real_qa):
    answer = real_qa.ask("Who won the 2024 Tour de France?")
    assert answer.refused and answer.citations == [] and answer.refusal_reason


def test_real_models_never_answer_the_library_question_with_the_bike_lanes(real_qa):
    answer = real_qa.ask("What did the Northfield council decide about the library?")
    assert "bike" not in answer.text.lower(), (answer.raw_text, answer.text)
    assert answer.refused or "library" in answer.text.lower()


@pytest.mark.skipif(not SEED_TXT.exists(), reason="../shared/data is not here")
def test_cli_ingest_then_ask_json_over_the_seed_article(tmp_path, model_cache):
    env = {
        **os.environ,
        "NEWSQA_STORE__PATH": str(tmp_path / "store"),
        "NEWSQA_CACHE_DIR": str(model_cache),
    }
    ingest = newsqa("ingest", str(SEED_TXT), env=env, timeout=600)
    assert ingest.returncode == 0, ingest.stderr
    assert "1 added" in ingest.stdout
    ask = newsqa("ask", "What did Tesla agree with Baidu?", "--json", env=env, timeout=600)
    assert ask.returncode == 0, ask.stderr
    out = json.loads(ask.stdout)
    assert set(out) == ANSWER_KEYS
    assert not out["refused"] and "Baidu" in out["text"]
    quote = out["citations"][0]["quote"]
    assert "Baidu’s mapping license for data collection on China’s public roads" in quote
    assert set(out["citations"][0]) == CITATION_KEYS


def test_real_models_tell_a_summary_across_articles(real_qa):
    from qa.chain import NewsQA
    from qa.settings import get_settings

    # The model writes the sentences (llm.paragraph = "model"; the default quotes the passages).
    settings = get_settings({**real_qa.settings.model_dump(), "llm": {"paragraph": "model"}})
    qa = NewsQA(
        settings,
        embeddings=real_qa.embeddings,
        store=real_qa.store,
        chat_model=real_qa.chat_model,
    )
    answer = qa.ask("What has happened in Northfield this year?")
    assert answer.raw_text, "the model was not asked"
    assert answer.kind == "summary" and not answer.refused, (answer.raw_text, answer.text)
    articles = {c.article_id for c in answer.citations}
    assert len(articles) >= 2, answer.text  # several articles, not one
    assert all(c.source == "Northfield Courier" for c in answer.citations)
    sentences = [s for s in re.split(r"(?<=\]) ", answer.text) if s.strip()]
    assert 2 <= len(sentences) <= 7 and all(re.search(r"\[\d+\]$", s) for s in sentences)
