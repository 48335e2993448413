"""What went wrong with one input item, in words: the reason a `Failure` carries."""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import BadInput
from ..types import Article, Failure

Item = Article | Failure  # what loading yields for each input item


def guarded(item: str, items: Iterator[Item]) -> Iterator[Item]:
    """Yield from `items`; whatever goes wrong becomes a Failure for `item`, not a crash."""
    try:
        yield from items
    except Exception as exc:  # a surprise in one item must not stop the others
        yield Failure(item, reason(exc))


def reason(exc: Exception) -> str:
    """An exception from loading one item, in words."""
    if isinstance(exc, BadInput):
        return str(exc)
    if isinstance(exc, OSError):
        return os_reason(exc)
    return f"could not load it ({type(exc).__name__}: {exc})"


def os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "no such file or folder"
    return f"cannot read it ({exc.strerror or exc})"
