"""The head of a plain-text article: a `Key: value` block, or the lines pasted above the body.

Pasted pages start with a title, then any of a subtitle, the title again, a photo caption with
its credit, a byline, an "Updated:" date and video time stamps. The metadata lines become
fields; the rest stays in the text. Fields that are not stated are left empty, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .raw import one_line, parse_date, strict_date

_KEYS = {
    "title": "title", "headline": "title", "source": "source", "outlet": "source",
    "author": "author", "authors": "author", "by": "author", "published": "published",
    "date": "published", "updated": "updated", "url": "url", "link": "url", "id": "id",
}  # fmt: skip
KEY_LINE = re.compile(r"^([A-Za-z][A-Za-z _-]{0,30}?)\s*:\s*(.*)$")
_TIMESTAMP = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")  # a video player's "0:00"
_DATE_LINE = re.compile(r"^(published|updated|posted|date)\b\s*(:?)\s*(.*)$", re.IGNORECASE)
_BY_LINE = re.compile(r"^by\s+(\S.*)$", re.IGNORECASE)
_NAME_WORD = re.compile(r"^[A-Z][\w'’-]*\.?$")
_NOT_NAMES = {"The", "A", "An", "Of", "In", "On", "At", "For", "To", "From", "With", "As", "How"}
_AGENCIES = r"AP|Reuters|AFP|EPA|Xinhua|Bloomberg|Getty Images|Shutterstock"
_CREDIT = re.compile(  # "Wang Ye/Xinhua via AP", "(AP Photo/Evan Vucci)", "Photo: Reuters"
    rf"\bvia ({_AGENCIES})\W*$|AP Photo|Getty Images|/ ?({_AGENCIES})\b|^\(?({_AGENCIES}) ?/"
    rf"|^\(?({_AGENCIES})\)?$|^\(?(Photo|Photograph|Image|Credit)s?\b",
    re.IGNORECASE,
)
_QUOTES = re.compile('["“”‘’]')
_HEAD_LINES = 8  # lines after the title that may hold a byline, a date or a caption
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]*$")


def header_block(text: str) -> tuple[dict[str, str], str]:
    """`Title: ...`, `Source: ...` lines up to the first blank line, the first with a known key."""
    block, _, body = text.partition("\n\n")
    matches = [KEY_LINE.match(line) for line in block.split("\n")]
    if not (all(matches) and matches[0] and matches[0].group(1).lower() in _KEYS):
        return {}, text
    return known_fields((m.group(1), m.group(2)) for m in matches if m), body


def known_fields(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Known keys -> Article fields; unknown keys are ignored, dates must be dates."""
    fields: dict[str, str] = {}
    for key, value in pairs:
        name, value = _KEYS.get(key.lower()), one_line(value).strip("'\"")
        if name and value and name not in fields:
            fields[name] = (
                strict_date(f"{key}:", value) if name in ("published", "updated") else value
            )
    return fields


def loose_head(text: str) -> tuple[dict[str, str], str]:
    """Title, byline and date out of the lines pasted above an article's body.

    Shape: a title line; then a subtitle, the title again, a photo caption ending in a credit,
    a byline, "Updated:" with a date, video time stamps, in any order. Metadata lines are
    dropped; the others (the subtitle, the caption without its credit) stay in the text.
    """
    # Only the head is looked at: splitting a file of a million short lines costs 20x its size.
    lines = text.split("\n", 4 * _HEAD_LINES)
    if len([line for line in lines if line]) < 2 or not _is_title(lines[0]):
        return {}, text  # the text starts with its first paragraph
    fields, out, i, looked = {"title": one_line(lines[0])}, [], 1, 0
    while i < len(lines) and looked < _HEAD_LINES:
        line, i = lines[i], i + 1
        if not line:
            out.append(line)  # keep paragraph breaks
            continue
        looked += 1
        following = lines[i] if i < len(lines) else ""
        kept, used_following = _head_line(line, following, fields)
        out.extend([kept] if kept else [])
        i += used_following
        if kept == line and not lines[i - 2] and not following and _SENTENCE_END.search(line):
            break  # a paragraph of its own that ends a sentence: the body has begun
    return fields, "\n".join([*out, *lines[i:]])


def _head_line(line: str, following: str, fields: dict[str, str]) -> tuple[str, bool]:
    """A line near the top -> the text to keep ('' for metadata, which goes into `fields`).

    The flag says whether the following line was taken too (the date below an "Updated:").
    """
    if line == fields["title"] or _TIMESTAMP.match(line):
        return "", False
    if date_line := _DATE_LINE.match(line):
        label, colon, value = date_line.groups()
        below = not value and bool(parse_date(following, fuzzy=False))
        value = following if below else value
        if iso := parse_date(value, fuzzy=False):  # a sentence that starts "Posted on" is not
            fields.setdefault("updated" if label.lower() == "updated" else "published", iso)
            return "", below
        if colon and not value:  # "Updated:" above a video's "0:00"
            return "", False
    if "author" not in fields and (name := _byline(line)):
        fields["author"] = name
        return "", False
    caption = _without_credit(line)
    return (line if caption is None else caption), False


def _is_title(line: str) -> bool:
    """A headline is short and, unlike a lede, does not end with a full stop."""
    return len(line) <= 200 and not line.endswith(".")


def _byline(line: str) -> str:
    """'Aldgra Fredly' or 'By Jane Doe, CNN' -> the name(s); '' for anything else."""
    if by := _BY_LINE.match(line):
        names = by.group(1)
        first = re.split(r",|\band\b|\|", names)[0]
        return names if _is_name(first) and len(names) <= 80 else ""
    return line if _is_name(line) else ""


def _is_name(text: str) -> bool:
    """2-4 capitalised words, as in a byline ('Aldgra Fredly', 'Mary-Ann O'Neil Jr.')."""
    words = text.split()
    return (
        2 <= len(words) <= 4
        and len(text) <= 40
        and all(_NAME_WORD.match(w) and w not in _NOT_NAMES for w in words)
    )


def _without_credit(line: str) -> str | None:
    """A photo caption without its credit ('... Wang Ye/Xinhua via AP'); None if not a caption."""
    caption, dot, credit = line.rpartition(". ")
    if len(credit) > 60 or credit.endswith(".") or _QUOTES.search(credit):
        return None
    return caption + dot.strip() if _CREDIT.search(credit) else None
