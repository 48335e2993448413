"""Words of a text, four ways, each for one job; they differ on purpose and are tuned apart.

- `content_words` (`WORD` minus `STOP_WORDS`): whether a passage supports a claim (qa.cite) and
  the citation scores (qa.eval.metrics). Whole lower-case words, contractions kept ("didn't").
- `stems` (`PLAIN_WORD` minus `FUNCTION_WORDS`, cut to five letters): the reader's relevance
  checks, where "resigns" must meet "resigned": does a short answer add anything to the
  question, which sentences of a passage are about it (qa.reader, qa.context).
- `normalize_tokens`: an answer against the gold answers (SQuAD-style): NFKC, plain quotes, no
  punctuation or articles, number words as digits, so "seventy-six" is 76.
- `vectorstore.keyword.tokenize` (not here: the index and its queries must split alike): BM25
  terms, with a light stemmer and a short stop list of its own.

`qa.features.question_terms` picks the names and numbers of a question as written (capitals
kept) for the rerank's verbatim match; it is a ranking feature, not a tokenizer.
"""

from __future__ import annotations

import re
import unicodedata

from .markers import BARE

WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
STOP_WORDS = set(
    "a an the of to in on at for by with and or but is are was were be been being has have had "
    "it its this that these those as from into about which who whom what when where why how "
    "their there they them he she his her we our you your i not no do does did will would can "
    "could should may might also than then so such said says according".split()
)
PLAIN_WORD = re.compile(r"[a-z0-9]+")
# Function words: a short answer made of these and the question's own words adds nothing.
# ("may" is not among them: it is a month as often as not.)
FUNCTION_WORDS = (STOP_WORDS - {"may"}) | {"whose", "just", "only"}
QUOTES = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "–": "-",
        "—": "-",
        "−": "-",
    }
)
TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+")
_ARTICLES = {"a", "an", "the"}
_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
NUMBER_WORDS = {w: i for i, w in enumerate(_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}


def content_words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w not in STOP_WORDS}


def stems(text: str) -> set[str]:
    """Content words cut to five letters, so plurals and tenses meet ("resigns" ~ "resigned")."""
    return {w[:5] for w in PLAIN_WORD.findall(text.lower()) if w not in FUNCTION_WORDS}


# Words an acronym's letters skip ("Department of Justice" is DOJ).
ACRONYM_SKIPS = frozenset({"of", "and", "for", "the", "de", "on", "in", "to", "a", "an", "&"})


def initials(words: list[str], skip: frozenset[str] = ACRONYM_SKIPS) -> str | None:
    """The first letters of a name's words, the `skip` ones left out ("United Kingdom" -> "UK");
    None when a word that counts is not capitalised, or none counts."""
    counted = [w for w in words if w.lower() not in skip]
    if not counted or not all(w[:1].isupper() for w in counted):
        return None
    return "".join(w[0] for w in counted)


def normalize_tokens(text: str) -> list[str]:
    """Lower case, plain quotes, no punctuation or articles, number words as digits."""
    text = unicodedata.normalize("NFKC", text).translate(QUOTES).lower()
    text = BARE.sub(" ", text).replace("%", " percent ")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 12,400 -> 12400
    tokens = [t for t in TOKEN.findall(text) if t not in _ARTICLES]
    return _number_words_to_digits(tokens)


def _number_words_to_digits(tokens: list[str]) -> list[str]:
    """ "seventy six" -> "76", "two hundred five" -> "205"; larger scales stay words."""
    out: list[str] = []
    value: int | None = None
    for token in tokens:
        if token in NUMBER_WORDS:
            n = NUMBER_WORDS[token]
            if value is not None and (
                value % 100 == 0 and value > 0 or value % 10 == 0 and n < 10 and value >= 20
            ):
                value += n  # "seventy six", "two hundred five"
            else:
                if value is not None:
                    out.append(str(value))
                value = n
        elif token == "hundred" and value is not None and 0 < value < 10:
            value *= 100
        else:
            if value is not None:
                out.append(str(value))
                value = None
            out.append(token)
    if value is not None:
        out.append(str(value))
    return out


def normalize(text: str) -> str:
    return " ".join(normalize_tokens(text))
