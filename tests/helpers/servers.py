"""Servers tests (and the benchmark scripts) start on 127.0.0.1: a free port, a process run
until its URL answers and stopped after, and a `chroma run` server over a folder."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .corpus import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def newsqa(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    """`newsqa ARGS...` in a new process (this interpreter's `-m qa.cli`), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "qa.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def stop(proc: subprocess.Popen, timeout: float = 30.0, *, kill: bool = False) -> None:
    """SIGTERM (with `kill`, SIGKILL: a crash, nothing flushed); SIGKILL if still there after
    `timeout` seconds."""
    (proc.kill if kill else proc.terminate)()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until_up(url: str, proc: subprocess.Popen, log: Path, seconds: float = 600.0) -> None:
    """Until `url` answers 200; an error with the end of `log` if the process exits first."""
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {seconds:g} s; see {log}")
        time.sleep(0.5)


@contextmanager
def running(
    command: list[str], log: Path, url: str, *, env: dict | None = None, seconds: float = 600.0
) -> Iterator[subprocess.Popen]:
    """`command` started (output to `log`), once `url` answers, until the block ends."""
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_up(url, proc, log, seconds)
        yield proc
    finally:
        stop(proc)


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
        try:
            wait_until_up(f"http://{self.address}/api/v2/heartbeat", self.proc, self.log, 60)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            pytest.fail(f"chroma run did not start: {exc}")

    def stop(self, kill: bool = False) -> None:
        """Stop the server: SIGTERM, or with `kill` SIGKILL (a crash, nothing flushed)."""
        if self.proc is None:
            return
        stop(self.proc, 10, kill=kill)
        self.proc = None
