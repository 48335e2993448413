"""Article formats: one document's bytes (plain text, Markdown, HTML, JSON) -> an `Article`.

Each function raises `BadInput` with a reason a person can act on; `load` turns that into a
`Failure`. Fields a document does not state are left empty, never guessed. Bytes become text in
`raw`; the head of a plain-text article is read in `header`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from html import unescape

import trafilatura

from ..errors import BadInput
from ..types import Article
from .header import KEY_LINE, header_block, known_fields, loose_head
from .raw import clean_text, one_line, parse_date, same_line, strict_date


def from_text(text: str, *, origin: str = "", url: str | None = None) -> Article:
    """Plain text: a `Key: value` header block, or a title line followed by the article."""
    fields, body = header_block(clean_text(text))
    if "title" in fields:
        first, _, rest = body.partition("\n")
        if same_line(first, fields["title"]):
            body = rest
    else:
        head, body = loose_head(body)
        fields = head | fields
    return _article(fields, body, origin=origin, url=url)


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
        fields = known_fields(_front_matter_pairs(front.group(1)))
        text = text[front.end() :]
    if "title" not in fields and (h1 := _H1.search(text)):
        fields["title"] = one_line(h1.group(1)).rstrip("#").rstrip()  # "# Title ##"
        text = text[: h1.start()] + text[h1.end() :]
    text = _HEADING_MARK.sub("", _LINK.sub(r"\1", _IMAGE.sub("", text)))
    if "title" not in fields:
        head, text = loose_head(clean_text(text))
        fields = head | fields
    return _article(fields, text, origin=origin)


def _front_matter_pairs(block: str) -> Iterator[tuple[str, str]]:
    """`key: value` lines; a `[a, b]` value or a YAML `- item` list becomes 'a, b'."""
    key, items = None, {}  # key -> its values
    for line in block.split("\n"):
        if m := KEY_LINE.match(line):
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
    if paragraphs and same_line(paragraphs[0], fields["title"]):
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
    fields["published"] = strict_date("'published'", fields["published"])
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
