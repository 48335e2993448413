"""Fixtures: fake models, settings over a temporary store, a NewsQA over the samples, no network.

The fakes, paths and servers the fixtures are made of live in tests/helpers/, which test files
import (`from helpers import FakeChatModel`); nothing imports this file.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import hypothesis
import pytest
from helpers import (
    SAMPLES,
    ChromaServer,
    FakeChatModel,
    FakeEmbeddings,
)

# Hypothesis: the same examples on every run, so CI cannot fail on one it never saw before;
# `pytest --hypothesis-profile=explore` draws fresh ones to look for new failures.
hypothesis.settings.register_profile("repeatable", derandomize=True)
hypothesis.settings.register_profile("explore", derandomize=False)
hypothesis.settings.load_profile("repeatable")


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
def env(tmp_path):
    """The environment of a `newsqa` process over a temporary store (real embeddings, the
    extractive reader: no chat model)."""
    return {
        **os.environ,
        "NEWSQA_STORE__PATH": str(tmp_path / "store"),
        "NEWSQA_LLM__PROVIDER": "extractive",
        "NEWSQA_CACHE_DIR": str(tmp_path / "models"),
    }


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


@pytest.fixture
def chroma_server(tmp_path):
    """A running Chroma server (stopped at the end); its data lives in tmp_path/server."""
    if not (Path(sys.executable).parent / "chroma").exists():
        pytest.skip("the chroma CLI is not installed beside this Python")
    server = ChromaServer(tmp_path / "server", tmp_path / "chroma.log")
    server.start()
    yield server
    server.stop()
