"""The console script as a user runs it (real embeddings, the extractive provider: no model)."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from helpers import SAMPLES, TESLA_ID, free_port, newsqa


def test_help_names_every_command():
    out = newsqa("--help", env=os.environ)
    assert out.returncode == 0
    for command in ("ingest", "ask", "ui", "eval", "articles"):
        assert command in out.stdout


def test_ingest_ask_and_list(env, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    first = newsqa("ingest", str(SAMPLES), str(empty), "--json", env=env)
    report = json.loads(first.stdout)
    assert first.returncode == 3  # something failed; the rest was stored
    assert report["added"] == len(list(SAMPLES.glob("*.txt"))) and report["failed"] == 1
    assert report["failures"][0]["item"].endswith("empty.txt")
    again = json.loads(newsqa("ingest", str(SAMPLES), "--json", env=env).stdout)
    assert again["added"] == 0 and again["unchanged"] == report["added"]

    ask = newsqa("ask", "What did Tesla agree with Baidu?", "--json", env=env)
    answer = json.loads(ask.stdout)
    assert answer["citations"][0]["article_id"] == TESLA_ID
    assert "mapping license" in answer["citations"][0]["quote"]

    plain = newsqa("ask", "What did Tesla agree with Baidu?", "--outlet", "Metro Wire", env=env)
    assert re.search(r"\[\d+\]", plain.stdout) and "Metro Wire" in plain.stdout

    rows = json.loads(newsqa("articles", "--json", env=env).stdout)
    assert len(rows) == report["added"] and rows[0]["published"] >= rows[-1]["published"]


def test_ingest_fetches_from_the_own_network_only_when_allowed(env):
    from helpers.web import LocalServer

    page = (
        "<html><body><article><p>The intranet says the Quay Street library opens in June, a "
        "year after the council voted for it.</p></article></body></html>"
    )
    with LocalServer() as server:
        server.routes["/news"] = (200, {"Content-Type": "text/html"}, page)
        refused = newsqa("ingest", server.url("/news"), "--json", env=env)
        assert refused.returncode == 3 and server.requests == []
        (failure,) = json.loads(refused.stdout)["failures"]
        assert failure["reason"].startswith("refused: 127.0.0.1 is not a public address")
        assert "--allow-private-urls" in failure["reason"]  # the detailed reason says the fix
        allowed = newsqa("ingest", server.url("/news"), "--allow-private-urls", "--json", env=env)
        assert allowed.returncode == 0 and json.loads(allowed.stdout)["added"] == 1


def test_errors_are_one_clear_line(env):
    out = newsqa("ask", "What did Tesla agree with Baidu?", env=env)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("newsqa: error:") and "empty" in out.stderr
    assert "Traceback" not in out.stderr
    bad = newsqa("ask", "x", "--from", "yesterday", env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_ui_takes_its_login_from_the_environment_not_the_command_line(env):
    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "ui", "--no-samples", "--port", str(port)],
        env={**env, "NEWSQA_UI__AUTH": "alice:s3cret"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                config = httpx.get(base + "/config", timeout=5)
                break
            except httpx.HTTPError:
                assert ui.poll() is None and time.monotonic() < deadline, ui.stderr.read()
                time.sleep(0.5)
        assert config.status_code == 401  # a login is asked for, on loopback too
        login = {"username": "alice", "password": "s3cret"}
        assert httpx.post(base + "/login", data=login).status_code == 200
        assert b"s3cret" not in Path(f"/proc/{ui.pid}/cmdline").read_bytes()  # what ps shows
    finally:
        ui.terminate()
        ui.wait(timeout=30)


def test_ui_login_options_fail_in_one_line(env, tmp_path):
    missing = newsqa("ui", "--auth-file", str(tmp_path / "missing"), env=env)
    assert missing.returncode == 2 and "cannot read the login file" in missing.stderr
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    typed = newsqa(
        "ui", "--auth", "alice:s3cret", "--store", str(not_a_folder / "store"), env=env
    )  # warned, then stopped by the store before it serves
    assert typed.returncode == 2
    assert "warning: --auth shows the password to anyone who can list processes" in typed.stderr
    both = newsqa("ui", "--auth", "a:b", "--no-auth", env=env)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
