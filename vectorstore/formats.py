"""Article formats: one document's bytes (plain text, Markdown, HTML, JSON) -> an `Article`.

Each function raises `BadInput` with a reason a person can act on; `vectorstore.load` turns that
into a `Failure`. Fields a document does not state are left empty, never guessed.
"""

from __future__ import annotations

import codecs
import json
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from html import unescape

import charset_normalizer
import trafilatura
from dateutil import parser as dateutil_parser

from .errors import BadInput
from .types import Article

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


def _same_line(line: str, title: str) -> bool:
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


def _strict_date(key: str, value: str) -> str:
    iso = parse_date(value)
    if value.strip() and not iso:
        raise BadInput(f"{key} {value!r} is not a date; write it as YYYY-MM-DD")
    return iso


# ---------------------------------------------------------------- plain text

_KEYS = {
    "title": "title", "headline": "title", "source": "source", "outlet": "source",
    "author": "author", "authors": "author", "by": "author", "published": "published",
    "date": "published", "updated": "updated", "url": "url", "link": "url", "id": "id",
}  # fmt: skip
_KEY_LINE = re.compile(r"^([A-Za-z][A-Za-z _-]{0,30}?)\s*:\s*(.*)$")
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


def from_text(text: str, *, origin: str = "", url: str | None = None) -> Article:
    """Plain text: a `Key: value` header block, or a title line followed by the article."""
    fields, body = _header_block(clean_text(text))
    if "title" in fields:
        first, _, rest = body.partition("\n")
        if _same_line(first, fields["title"]):
            body = rest
    else:
        head, body = _loose_head(body)
        fields = head | fields
    return _article(fields, body, origin=origin, url=url)


def _header_block(text: str) -> tuple[dict[str, str], str]:
    """`Title: ...`, `Source: ...` lines up to the first blank line, the first with a known key."""
    block, _, body = text.partition("\n\n")
    matches = [_KEY_LINE.match(line) for line in block.split("\n")]
    if not (all(matches) and matches[0] and matches[0].group(1).lower() in _KEYS):
        return {}, text
    return _fields((m.group(1), m.group(2)) for m in matches if m), body


def _fields(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Known keys -> Article fields; unknown keys are ignored, dates must be dates."""
    fields: dict[str, str] = {}
    for key, value in pairs:
        name, value = _KEYS.get(key.lower()), one_line(value).strip("'\"")
        if name and value and name not in fields:
            fields[name] = (
                _strict_date(f"{key}:", value) if name in ("published", "updated") else value
            )
    return fields


def _loose_head(text: str) -> tuple[dict[str, str], str]:
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


# ---------------------------------------------------------------- Markdown

_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---(\n|\Z)", re.DOTALL)
# No pattern here may scan past the next line or bracket: "[" or "#" repeated 100,000 times
# would otherwise cost quadratic time (minutes for a 1 MB file).
_H1 = re.compile(r"^#[^\S\n]+(.+)$", re.MULTILINE)
_TARGET = r"\((?:[^()\n]|\([^()\n]*\))*\)"  # (url), which may hold one (pair) itself
_IMAGE = re.compile(r"!\[[^\[\]\n]*\]" + _TARGET)
_LINK = re.compile(r"\[([^\[\]\n]+)\]" + _TARGET)
_HEADING_MARK = re.compile(r"^#{1,6}\s+", re.MULTILINE)


def from_markdown(text: str, *, origin: str = "") -> Article:
    """Markdown: optional `---` front matter, the first `# heading` as title, the rest as text."""
    text = clean_text(text)
    fields: dict[str, str] = {}
    if front := _FRONT_MATTER.match(text):
        fields = _fields(_front_matter_pairs(front.group(1)))
        text = text[front.end() :]
    if "title" not in fields and (h1 := _H1.search(text)):
        fields["title"] = one_line(h1.group(1)).rstrip("#").rstrip()  # "# Title ##"
        text = text[: h1.start()] + text[h1.end() :]
    text = _HEADING_MARK.sub("", _LINK.sub(r"\1", _IMAGE.sub("", text)))
    if "title" not in fields:
        head, text = _loose_head(clean_text(text))
        fields = head | fields
    return _article(fields, text, origin=origin)


def _front_matter_pairs(block: str) -> Iterator[tuple[str, str]]:
    """`key: value` lines; a `[a, b]` value or a YAML `- item` list becomes 'a, b'."""
    key, items = None, {}  # key -> its values
    for line in block.split("\n"):
        if m := _KEY_LINE.match(line):
            key, value = m.group(1), m.group(2).strip()
            is_list = value.startswith("[") and value.endswith("]")
            items[key] = value[1:-1].split(",") if is_list else [value]
        elif key and line.strip().startswith("- "):
            items[key].append(line.strip()[2:])
    return ((k, ", ".join(v.strip(" '\"") for v in vs if v.strip())) for k, vs in items.items())


# ---------------------------------------------------------------- HTML

_MIN_WORDS = 10  # trafilatura falls back to any text it finds, a menu included
_DATE_PARAMS = {"extensive_search": False, "original_date": True}  # no guessing from page text


def from_html(html: str, *, origin: str = "", url: str | None = None) -> Article:
    """An HTML page -> its main text and metadata (title, author, date, site name, URL)."""
    try:
        doc = trafilatura.bare_extraction(
            html, with_metadata=True, include_comments=False, date_extraction_params=_DATE_PARAMS
        )
    except (ValueError, TypeError) as exc:  # lxml refuses some inputs outright
        raise BadInput(f"HTML page could not be parsed ({exc})") from exc
    text = (doc.text or "") if doc else ""
    if len(text.split()) < _MIN_WORDS:
        raise BadInput("HTML page has no main text")
    fields = {
        "title": doc.title or "",
        "author": doc.author or "",
        "published": parse_date(doc.date or ""),
        "source": doc.sitename or "",
        "url": url or doc.url or "",
    }
    paragraphs = text.splitlines()  # trafilatura puts one paragraph a line
    if paragraphs and _same_line(paragraphs[0], fields["title"]):
        paragraphs = paragraphs[1:]  # the page's own heading
    return _article(fields, "\n\n".join(paragraphs), origin=origin)


# A tag ends at the next "<" too, so that "<br" repeated without a ">" costs linear time.
_CODE = re.compile(r"<(script|style)\b", re.IGNORECASE)
_CLOSE = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in ("script", "style")}
_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/h[1-6]|/blockquote|/tr)\b[^<>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]*>")


def html_fragment_text(fragment: str) -> str:
    """A feed entry's summary or content (a snippet of HTML, or plain text) -> plain text."""
    text = _BREAK.sub("\n\n", _without_code(fragment))
    return clean_text(unescape(_TAG.sub("", text)))


def _without_code(fragment: str) -> str:
    """The fragment without <script> and <style> elements, in one pass (an unclosed one stays)."""
    kept, at, unclosed = [], 0, set()  # names with no closing tag left: not looked for again
    while opening := _CODE.search(fragment, at):
        name = opening.group(1).lower()
        end = None if name in unclosed else _CLOSE[name].search(fragment, opening.end())
        if end is None:
            unclosed.add(name)
            kept.append(fragment[at : opening.end()])
            at = opening.end()
        else:
            kept.append(fragment[at : opening.start()])
            at = end.end()
    return "".join([*kept, fragment[at:]])


# ---------------------------------------------------------------- JSON records

_STRING_FIELDS = ("title", "source", "author", "published", "url", "id")


def from_record(record: object, *, origin: str = "") -> Article:
    """One JSON object shaped like a line of `articles.jsonl` (id, title, ..., text)."""
    if not isinstance(record, dict):
        raise BadInput(f"not a JSON object (got {_json_type(record)})")
    text = record.get("text")
    if text is None:
        raise BadInput("missing 'text'")
    if not isinstance(text, str):
        raise BadInput(f"'text' must be a string, not {_json_type(text)}")
    if not text.strip():
        raise BadInput("'text' is empty")
    fields: dict[str, str] = {}
    for key in _STRING_FIELDS:
        value = record.get(key)
        if key == "id" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            raise BadInput(f"'{key}' must be a string, not {_json_type(value)}")
        fields[key] = one_line(value or "")
    authors = record.get("authors")
    if not fields["author"] and authors is not None:
        if not (isinstance(authors, list) and all(isinstance(a, str) for a in authors)):
            raise BadInput(f"'authors' must be a list of strings, not {_json_type(authors)}")
        fields["author"] = ", ".join(one_line(a) for a in authors if a.strip())
    fields["published"] = _strict_date("'published'", fields["published"])
    return _article(fields, text, origin=origin)


def parse_json(text: str) -> object:
    """json.loads, with errors a person can read."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        message = exc.msg.removesuffix(" at")  # "Invalid control character at"
        raise BadInput(f"invalid JSON: {message} at column {exc.colno}") from exc
    except RecursionError as exc:
        raise BadInput("invalid JSON: nested too deeply") from exc
    except ValueError as exc:  # Python refuses to read integers of over 4,300 digits
        limit = f"{sys.get_int_max_str_digits():,}"
        raise BadInput(f"invalid JSON: a number of over {limit} digits") from exc


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "?")


# ---------------------------------------------------------------- shared


def _article(fields: dict[str, str], body: str, *, origin: str, url: str | None = None) -> Article:
    text = clean_text(body)
    if not text:
        raise BadInput("no article text" + (" after the title" if fields.get("title") else ""))
    require_unicode({**fields, "text": text})
    return Article(
        title=one_line(fields.get("title", "")),
        text=text,
        source=fields.get("source", ""),
        author=fields.get("author", ""),
        published=fields.get("published") or fields.get("updated", ""),
        url=fields.get("url") or url or None,
        id=fields.get("id", ""),
        origin=origin,
    )


def require_unicode(fields: dict[str, str]) -> None:
    """Raise BadInput for a lone surrogate (JSON's "\\ud800"): not text, and cannot be stored."""
    for key, value in fields.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = f"\\u{ord(value[exc.start]):04x}"
            reason = f"'{key}' holds {code}, half of a surrogate pair; not valid Unicode"
            raise BadInput(reason) from None
