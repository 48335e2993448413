"""Shared fakes: a deterministic embedding, a chat model that answers from its sources, a store.

Fakes over mocks: the fake embedding hashes words into a vector (so passages sharing words with a
question rank first), and the fake chat model answers with the source sentence that shares most
words with the question, marked with its [n], the way a good small model would.
"""

from __future__ import annotations

import hashlib
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import httpx
import hypothesis
import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

# Hypothesis: the same examples on every run, so CI cannot fail on one it never saw before;
# `pytest --hypothesis-profile=explore` draws fresh ones to look for new failures.
hypothesis.settings.register_profile("repeatable", derandomize=True)
hypothesis.settings.register_profile("explore", derandomize=False)
hypothesis.settings.load_profile("repeatable")

ROOT = Path(__file__).resolve().parent.parent
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

_WORD = re.compile(r"[a-z0-9]+")
_STOP = set(
    "the a an of to in on and for with what did does is was were who which how that "
    "this by at as from it its be are has have said".split()
)


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def new_words(sentence: str, question: str) -> str:
    """The sentence's longest run of words that the question does not hold: a fake reader's pick
    of the short answer ("... agreed with Baidu to use its mapping license" -> "to use its ...")."""
    asked = set(words(question))
    best: list[str] = []
    run: list[str] = []
    for token in sentence.rstrip(".!?").split() + [""]:
        bare = token.strip(",;:\"'()").lower()
        if token and bare not in asked:
            run.append(token.strip(",;:\"'()"))
            continue
        while run and run[-1].lower() in _STOP:
            run.pop()
        while run and run[0].lower() in _STOP:
            run.pop(0)
        if len(words(" ".join(run))) > len(words(" ".join(best))):
            best = run
        run = []
    return " ".join(best)


class FakeEmbeddings(Embeddings):
    """Hashed bag of words, normalised: deterministic and fast, with some real ranking signal."""

    dim = 512

    def _vector(self, text: str) -> list[float]:
        v = np.zeros(self.dim)
        for w in words(text):
            v[int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        norm = np.linalg.norm(v)
        return (v / norm if norm else v + 1 / np.sqrt(self.dim)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


class FakeChatModel(BaseChatModel):
    """Answers with the source sentence sharing most words with the question, plus its [n].

    For a condense (rewrite) request it appends the previous user question's words, so a
    follow-up keeps its topic. `replies`, when given, are returned in order instead.
    """

    replies: list[str] = []
    calls: list[str] = []

    @property
    def _llm_type(self) -> str:
        return "fake"

    def respond(self, messages) -> str:
        system, user = str(messages[0].content), str(messages[-1].content)
        self.calls.append(user)
        if self.replies:
            return self.replies.pop(0)
        if "Rewrite" in system:
            history = re.findall(r"User: (.*)", user)
            last = re.search(r"Last question: (.*)", user).group(1)
            return f"{last} (about: {history[-1]})" if history else last
        answer_first = "Question: " in user  # the answer-first prompt: sources in the last turn
        question = user.rsplit("Question: ", 1)[-1] if answer_first else user
        best, best_n, best_score = "", 0, 0
        sources = user if answer_first else system
        for n, body in re.findall(
            r"\[(\d+)\] [^\n]*\n(.*?)(?=\n\n\[\d+\] |\n\nQuestion: |\Z)", sources, re.S
        ):
            for sentence in re.split(r"(?<=[.!?])\s+", body):
                score = len(set(words(sentence)) & set(words(question)))
                if score > best_score:
                    best, best_n, best_score = sentence.strip(), n, score
        if best_score < 2:
            return "Answer: none" if answer_first else "I can't answer that from these articles."
        if answer_first:
            return f"Answer: {new_words(best, question)} [{best_n}]"
        return f"{best} [{best_n}]"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.respond(messages)))])

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        for token in re.findall(r"\S+\s*", self.respond(messages)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=token))


class SlowChatModel(FakeChatModel):
    """The fake chat model at the local model's pace: one call at a time, so users queue for it.

    Like `LocalChatModel` it is `one_at_a_time` (NewsQA gives it a ModelQueue). Each call first
    takes a permit from `gate`, when one is given (the test releases them), then sleeps `delay`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    one_at_a_time: ClassVar[bool] = True
    delay: float = 0.0
    gate: threading.Semaphore | None = None

    def respond(self, messages) -> str:
        if self.gate is not None:
            self.gate.acquire()
        time.sleep(self.delay)
        return super().respond(messages)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """One folder for the real model file, assembled once per test session (1.1 GB)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def fake_embeddings() -> FakeEmbeddings:
    return FakeEmbeddings()


@pytest.fixture
def fake_chat() -> FakeChatModel:
    return FakeChatModel(replies=[], calls=[])


@pytest.fixture
def settings(tmp_path):
    """Settings with the store and the model cache in a temporary folder."""
    from qa.settings import get_settings

    return get_settings(
        {
            "store": {"path": tmp_path / "store"},
            "cache_dir": tmp_path / "models",
            "retrieval": {"min_score": 0.05},
        }
    )


@pytest.fixture
def fake_qa(settings, fake_embeddings, fake_chat):
    """A NewsQA over the sample corpus with fake models and a real Chroma in a temp folder."""
    from qa.chain import NewsQA

    qa = NewsQA(settings, embeddings=fake_embeddings, chat_model=fake_chat)
    report = qa.ingest([str(SAMPLES)], progress=False)
    assert not report.failed, report.summary()
    return qa


@pytest.fixture
def no_network(monkeypatch):
    """Refuse every connection beyond 127.0.0.1, and every DNS lookup, before a packet is sent.

    For tests of what the loader refuses to fetch: a check that lets a request through then shows
    as a wrong reason, never as a request to a real address (169.254.169.254 is a cloud's
    metadata service on some machines).
    """
    connect, lookup = socket.create_connection, socket.getaddrinfo

    def loopback_only(address, *args, **kwargs):
        infos = lookup(address[0], address[1], type=socket.SOCK_STREAM)
        if any(info[4][0] != "127.0.0.1" for info in infos):
            raise ConnectionRefusedError(f"the tests' no_network refused {address[0]}")
        return connect(address, *args, **kwargs)

    def no_dns(host, port, *args, **kwargs):
        """Addresses (in any form) and localhost only: a name would be asked of a DNS server."""
        if host != "localhost":
            try:
                lookup(host, port, flags=socket.AI_NUMERICHOST)
            except socket.gaierror:
                raise socket.gaierror(
                    socket.EAI_NONAME, f"no_network: {host} not looked up"
                ) from None
        return lookup(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", loopback_only)
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    """A `chroma run` server on loopback over a folder, which a test may stop and start again."""

    def __init__(self, path: Path, log: Path) -> None:
        self.path, self.log, self.port = path, log, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        chroma = Path(sys.executable).parent / "chroma"
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [
                    str(chroma),
                    "run",
                    "--path",
                    str(self.path),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://{self.address}/api/v2/heartbeat", timeout=1).is_success:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"chroma run did not start: {self.log.read_text()}")
            time.sleep(0.2)

    def stop(self, kill: bool = False) -> None:
        """Stop the server: SIGTERM, or with `kill` SIGKILL (a crash, nothing flushed)."""
        if self.proc is None:
            return
        (self.proc.kill if kill else self.proc.terminate)()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture
def chroma_server(tmp_path):
    """A running Chroma server (stopped at the end); its data lives in tmp_path/server."""
    if not (Path(sys.executable).parent / "chroma").exists():
        pytest.skip("the chroma CLI is not installed beside this Python")
    server = ChromaServer(tmp_path / "server", tmp_path / "chroma.log")
    server.start()
    yield server
    server.stop()
