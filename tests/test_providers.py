"""Models from servers by setting: chat through an OpenAI-compatible server (the stub of
scripts/stub_openai.py), embeddings from an OpenAI-compatible one or Ollama; and the check that a
collection's vectors and the embedding model's have one dimension."""

from __future__ import annotations

import json
import sys
import threading
from http.server import ThreadingHTTPServer

import pytest
from helpers import ROOT, SAMPLES, TESLA_ID, FakeEmbeddings

from qa.chain import NewsQA
from vectorstore.embed import LocalEmbeddings, make_embeddings
from vectorstore.errors import StoreError

sys.path.insert(0, str(ROOT / "scripts"))
from stub_openai import JSONHandler, StubServer  # noqa: E402

KEY = "sk-embed-test"
TESLA = "What did Tesla agree with Baidu?"


class EmbeddingServer:
    """OpenAI's POST /v1/embeddings and Ollama's POST /api/embed on 127.0.0.1, vectors from the
    tests' hashed bag of words; records each request's path, headers and body."""

    def __init__(self, dim: int = FakeEmbeddings.dim) -> None:
        fake = FakeEmbeddings()
        fake.dim = dim
        self.requests: list[tuple[str, dict, dict]] = []
        owner = self

        class Handler(JSONHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append((self.path, dict(self.headers), body))
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                vectors = fake.embed_documents(texts)
                if self.path == "/v1/embeddings":
                    reply = {
                        "object": "list",
                        "model": body["model"],
                        "data": [
                            {"object": "embedding", "index": i, "embedding": v}
                            for i, v in enumerate(vectors)
                        ],
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    }
                elif self.path == "/api/embed":
                    reply = {"model": body["model"], "embeddings": vectors}
                else:
                    self.send_error(404)
                    return
                self._send(200, json.dumps(reply).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def embedding_server():
    server = EmbeddingServer()
    yield server
    server.close()


def with_store(settings, **store):
    store = type(settings.store).model_validate({**settings.store.model_dump(), **store})
    return settings.model_copy(update={"store": store})


@pytest.mark.parametrize(
    ("provider", "base", "path", "model"),
    [
        ("openai", "/v1", "/v1/embeddings", "text-embedding-3-small"),
        ("ollama", "", "/api/embed", "nomic-embed-text"),
    ],
)
def test_a_server_embeds_the_articles_and_the_questions(
    settings, fake_chat, embedding_server, provider, base, path, model
):
    settings = with_store(
        settings,
        embedding_provider=provider,
        embedding_base_url=embedding_server.url + base,
        embedding_api_key=KEY,
    )
    qa = NewsQA(settings, chat_model=fake_chat)
    assert not isinstance(qa.embeddings, LocalEmbeddings)
    assert not qa.ingest([str(SAMPLES)], progress=False).failed
    assert TESLA_ID in {c.article_id for c in qa.ask(TESLA).citations}
    assert embedding_server.requests
    for got_path, headers, body in embedding_server.requests:
        assert got_path == path and body["model"] == model
        assert all(isinstance(t, str) for t in body["input"])  # text, never token ids
        if provider == "openai":
            assert {k.lower(): v for k, v in headers.items()}["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(settings)


def test_the_local_provider_is_the_default(settings):
    embeddings = make_embeddings(settings.store)
    assert isinstance(embeddings, LocalEmbeddings)
    assert settings.store.embedding_name == "all-MiniLM-L6-v2"


def test_vectors_of_another_dimension_are_refused_by_name(settings, fake_chat, tmp_path):
    qa = NewsQA(settings, embeddings=FakeEmbeddings(), chat_model=fake_chat)
    assert not qa.ingest([str(SAMPLES)], progress=False).failed
    qa.close()
    other = FakeEmbeddings()
    other.dim = 384  # another model
    qa = NewsQA(settings, embeddings=other, chat_model=fake_chat)
    with pytest.raises(StoreError) as info:
        qa.ask(TESLA)
    message = str(info.value)
    assert "holds 512-dimension vectors" in message and "makes 384-dimension" in message
    assert "store.collection" in message
    new_files = []
    for n in range(3):
        new_files.append(tmp_path / f"new-{n}.txt")
        new_files[-1].write_text(f"Ferry {n} named\n\nThe council named ferry {n} on Monday.\n")
    report = qa.ingest([str(f) for f in new_files], progress=False)
    assert len(report.failed) == 3 and not report.added
    assert all("makes 384-dimension" in f.reason for f in report.failed)
    new = NewsQA(with_store(settings, collection="news384"), embeddings=other, chat_model=fake_chat)
    assert not new.ingest([str(SAMPLES)], progress=False).failed  # a new collection takes them
    assert new.ask(TESLA).citations


def test_chat_through_an_openai_compatible_server(settings, fake_embeddings):
    stub = StubServer(latency=0.0).start()
    try:
        settings = settings.model_copy(
            update={
                "llm": settings.llm.model_copy(
                    update={"provider": "openai", "base_url": stub.url, "model": "stub"}
                )
            }
        )
        qa = NewsQA(settings, embeddings=fake_embeddings)
        assert type(qa.chat_model).__name__ == "ChatOpenAI"  # made by init_chat_model
        assert not qa.ingest([str(SAMPLES)], progress=False).failed
        answer = qa.ask(TESLA)
        assert not answer.refused and TESLA_ID in {c.article_id for c in answer.citations}
        steps = list(qa.ask_stream(TESLA))
        assert len(steps) > 2 and steps[-1].done and not any(s.done for s in steps[:-1])
        assert steps[-1].text == answer.text
        assert stub.calls >= 2
    finally:
        stub.close()
