"""Files that are whole or absent: written under a temporary name, synced, then renamed.

A crash or a full disk part-way leaves the old file (or none) and a `NAME.PID.part` file that
the next writer replaces, never a half file under the real name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def replacing(path: Path, mode: str = "w") -> Iterator[IO]:
    """A file to write in place of `path`; it becomes `path` only if the block ends cleanly."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    encoding = None if "b" in mode else "utf-8"
    try:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _sync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` to `path` whole, or leave `path` as it was."""
    with replacing(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
