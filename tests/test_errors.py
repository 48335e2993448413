"""The error root: what a user can fix is a NewsQAError naming the fix; a typo is not ignored."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from qa.errors import InvalidQuestion, InvalidSettings, NewsQAError
from qa.settings import Settings


def test_a_misspelt_setting_is_an_error_that_names_it_and_its_fix():
    with pytest.raises(
        InvalidSettings, match=r"unknown setting 'llm.provdier'; did you mean 'provider'"
    ):
        Settings(llm={"provdier": "ollama"})
    with pytest.raises(
        InvalidSettings, match=r"unknown setting 'retreival'; did you mean 'retrieval'"
    ):
        Settings(retreival={"k": 3})
    with pytest.raises(InvalidSettings, match=r"unknown setting 'store.chroma_prot'"):
        Settings(store={"chroma_prot": 9000})


def test_a_misspelt_environment_variable_is_an_error_too(monkeypatch):
    monkeypatch.setenv("NEWSQA_LLM__PROVDIER", "ollama")
    with pytest.raises(InvalidSettings, match="llm.provdier"):
        Settings()


def test_a_bad_value_is_named_but_a_secret_is_never_echoed():
    with pytest.raises(InvalidSettings, match=r"setting 'llm.temperature'.*'hot'"):
        Settings(llm={"temperature": "hot"})
    with pytest.raises(InvalidSettings) as caught:
        Settings(store={"chroma_headers": "Bearer s3cret-token"})
    assert "s3cret" not in str(caught.value) and "store.chroma_headers" in str(caught.value)


def test_every_deliberate_error_is_a_newsqa_error_and_keeps_its_builtin_kind():
    assert issubclass(InvalidSettings, NewsQAError) and issubclass(InvalidSettings, ValueError)
    assert issubclass(InvalidQuestion, ValueError)


def test_the_cli_prints_a_settings_typo_in_one_line(tmp_path):
    env = {**os.environ, "NEWSQA_LLM__PROVDIER": "x", "NEWSQA_STORE__PATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "qa.cli", "articles"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("newsqa: error: unknown setting 'llm.provdier'")


def test_help_does_not_load_the_pipeline():
    heavy = "{'chromadb', 'langchain_core', 'trafilatura', 'gradio'}"
    code = f"import sys, qa.cli; qa.cli.build_parser(); print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_hybrid_weights_are_settings(monkeypatch):
    monkeypatch.setenv("NEWSQA_RETRIEVAL__HYBRID__DATE_WEIGHT", "0.3")
    hybrid = Settings(retrieval={"hybrid": {"date_window": [0, 5]}}).retrieval.hybrid
    assert hybrid.date_weight == 0.3 and hybrid.date_window == (0, 5)
    with pytest.raises(InvalidSettings, match="'retrieval.hybrid.date_wieght'; did you mean"):
        Settings(retrieval={"hybrid": {"date_wieght": 1.0}})
