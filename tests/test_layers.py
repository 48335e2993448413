"""The layers import one way: ui.py -> qa/ -> vectorstore/; and `python ui.py` is `newsqa ui`."""

from __future__ import annotations

import ast
import subprocess
import sys

from helpers import ROOT


def imported(folder: str) -> dict[str, set[str]]:
    """Each module of the folder -> the top-level packages it imports (relative ones skipped)."""
    found = {}
    for path in (ROOT / folder).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_nothing_imports_upward():
    for module, names in imported("vectorstore").items():
        assert not names & {"qa", "ui"}, module
    for module, names in imported("qa").items():
        assert not names & {"ui"}, module


def test_the_pipeline_does_not_import_the_web_ui_parts():
    """qa/web/ is the UI's (ui.py imports it); the pipeline, CLI and evaluation never do."""
    for path in (ROOT / "qa").rglob("*.py"):
        if "web" in path.relative_to(ROOT / "qa").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                assert not module.lstrip(".").startswith(("web", "qa.web")), path


def test_python_ui_py_is_the_newsqa_ui_command():
    def helptext(*cmd: str) -> str:
        out = subprocess.run([*cmd, "--help"], capture_output=True, text=True, cwd=ROOT, check=True)
        return out.stdout

    assert helptext(sys.executable, "ui.py") == helptext(sys.executable, "-m", "qa.cli", "ui")
    assert "--no-samples" in helptext(sys.executable, "ui.py")
