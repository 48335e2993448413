"""Bytes -> text: binary or text, which encoding, HTML or a feed; then clean text and dates.

A file in an encoding other than UTF-8 (or one its byte-order mark or `<meta charset>` names) is
refused with where its first bad byte is, never guessed: a wrong guess garbles names and numbers
without a word. Web pages, which cannot be saved again, may ask for detection (`detect`).
"""

from __future__ import annotations

import codecs
import re
from datetime import datetime

import charset_normalizer
from dateutil import parser as dateutil_parser

from ..errors import BadInput

# ---------------------------------------------------------------- bytes

SNIFF = 8192  # bytes looked at to tell text from binary, and HTML or a feed from other text
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\b\x1b")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([\w.:-]+)""", re.IGNORECASE)
_FEED_TYPES = ("rss+xml", "atom+xml", "rdf+xml")
_FEED_TAGS = (b"<rss", b"<feed", b"<rdf:rdf")


def is_binary(sample: bytes) -> bool:
    """NUL bytes, or more than 1 byte in 10 a control character that text does not use."""
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if (b < 32 or b == 127) and b not in _TEXT_CONTROLS)
    return controls > len(sample) / 10


def decode(
    data: bytes,
    *,
    declared: str | None = None,
    html: bool = False,
    detect: bool = False,
    what: str = "file",
) -> str:
    """Bytes -> text by byte-order mark, declared charset, an HTML `<meta charset>`, else UTF-8.

    Text in any other encoding raises BadInput ("not valid UTF-8 at byte N"), unless `detect`
    asks for charset_normalizer's best guess instead. `what` names the data in reasons.
    """
    bom = next((codec for mark, codec in _BOMS if data.startswith(mark)), None)
    if bom != "utf-16" and is_binary(data[:SNIFF]):
        raise BadInput(f"binary {what} (not text)")
    meta = _META_CHARSET.search(data[:SNIFF]) if html else None
    charsets = (bom, declared, meta and meta.group(1).decode("ascii"), "utf-8")
    for charset in filter(None, charsets):
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError) as exc:
            error = exc  # the last one tried is UTF-8's, which says where it failed
    if detect and (best := charset_normalizer.from_bytes(data).best()):
        return str(best)
    raise BadInput(not_utf8(error)) from error


def not_utf8(error: UnicodeDecodeError, offset: int = 0) -> str:
    """The reason for bytes that are not UTF-8: where the first bad byte is, and its value."""
    at, byte = offset + error.start, error.object[error.start]
    return f"not valid UTF-8 at byte {at} (0x{byte:02x}); save it as UTF-8"


def sniff(data: bytes, content_type: str = "") -> str:
    """'html', 'feed' or '' (something else), from a content type and the first bytes."""
    head = data[:1024].removeprefix(codecs.BOM_UTF8).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    if any(t in content_type for t in _FEED_TYPES) or any(tag in head for tag in _FEED_TAGS):
        return "feed"
    return "html" if "html" in content_type else ""


# ---------------------------------------------------------------- text and dates

# Only what needs changing matches (runs of white space, a tab, a space beside a newline): a
# pattern matching every single space builds millions of pieces for a 10 MB line.
_SPACES = re.compile(r"[^\S\n]{2,}|[^\S \n]")  # white space but a newline, to one space
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff]")
_LINE_ENDS = re.compile(r" \n ?|\n ")  # spaces were collapsed first: at most one either side
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """Strip, collapse runs of spaces and keep paragraph breaks as exactly one blank line."""
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _LINE_ENDS.sub("\n", _SPACES.sub(" ", text))
    return _BLANK_LINES.sub("\n\n", text).strip()


def one_line(text: str) -> str:
    return " ".join(_INVISIBLE.sub("", text).split())


def same_line(line: str, title: str) -> bool:
    """`line` says `title` (spacing aside); a 10 MB line is not split into words to find out."""
    return len(line) <= 2 * len(title) + 8 and one_line(line) == one_line(title)


# Parsing with two different defaults tells a full date from one whose year, month or day was
# filled in: "0:00" or "April 2024" must not become a made-up day.
_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))


def parse_date(value: str, *, fuzzy: bool = True) -> str:
    """'Apr. 29, 2024 10:32 AM ET', '2024-04-29T10:00Z', ... -> '2024-04-29'; '' if no full date.

    With `fuzzy`, words around the date are skipped; without, the value must be a date and time.
    """
    value = value.strip()
    if not value or len(value) > 100:
        return ""
    try:
        days = {
            dateutil_parser.parse(value, default=d, fuzzy=fuzzy, ignoretz=True).date()
            for d in _DEFAULTS
        }
    except (ValueError, OverflowError):
        return ""
    return days.pop().isoformat() if len(days) == 1 else ""


def strict_date(key: str, value: str) -> str:
    iso = parse_date(value)
    if value.strip() and not iso:
        raise BadInput(f"{key} {value!r} is not a date; write it as YYYY-MM-DD")
    return iso
