"""The store's folder on disk: one process at a time (`StoreLock`), and how much space is left.

Both exist because of what embedded Chroma does when they are ignored (docs/reliability.md): two
processes on one folder corrupted its vector index, and a write that ran out of space left a log
it could not apply, so that even reads failed until space was freed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import sys
import threading
import time
import weakref
from pathlib import Path

from .errors import StoreError


class StoreLock:
    """One process per embedded store: an exclusive `flock` on `<store>/.lock`, held while open.

    Embedded Chroma is not safe with two processes on one folder: a second process that holds
    it open while another writes has corrupted its vector index (a 181 GB sparse HNSW file), and
    a keyword compaction in one process wrote its stale state over the other's log
    (docs/reliability.md). The kernel drops the lock when its process dies, even by kill -9, so
    a crash never leaves the store locked. Within one process, every NewsStore on a folder
    shares one lock (a second `flock` on a new descriptor would conflict with the first).
    """

    _held: dict[Path, list] = {}  # resolved store folder -> [file descriptor, users]
    _guard = threading.Lock()

    def __init__(self, folder: Path, wait: float = 0.0) -> None:
        self.folder = Path(folder).resolve()
        with self._guard:
            held = self._held.get(self.folder)
            if held is None:
                held = self._held[self.folder] = [self._acquire(wait), 0]
            held[1] += 1
        self._finalizer = weakref.finalize(self, StoreLock._release, self.folder)

    def _acquire(self, wait: float) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                    os.close(fd)
                    waited = f" (waited {wait:g} s, setting store.lock_wait)" if wait else ""
                    raise StoreError(
                        f"the store in {self.folder} is open in another newsqa process "
                        f"(pid {holder}){waited}; stop it, or use a Chroma server "
                        "(store.chroma_host), which many processes can share"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # for the message the next process shows
        return fd

    @classmethod
    def _release(cls, folder: Path) -> None:
        with cls._guard:
            held = cls._held.get(folder)
            if held is None:
                return
            held[1] -= 1
            if held[1] <= 0:
                del cls._held[folder]
                os.close(held[0])  # closing the last descriptor drops the flock

    def release(self) -> None:
        self._finalizer()


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error (an OSError, or Chroma's or SQLite's message) means the disk is full."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        text = str(exc).lower()
        if "no space left" in text or "disk is full" in text or "disk full" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class LowOnSpace(OSError):
    """The store's own refusal to write within its free-space margin."""


def free_bytes(path: Path) -> int:
    """Free space on the disk that holds `path` (or its nearest existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return sys.maxsize


def allocated_bytes(folder: Path) -> int:
    """Disk space taken by the files under `folder` (blocks, not sizes: Chroma's are sparse)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # a file may go (a compaction) while we count
                total += os.stat(os.path.join(root, name)).st_blocks * 512
    return total
