"""One Settings object, from defaults, a TOML file and `NEWSQA_` environment variables.

Nested fields use a double underscore: `NEWSQA_LLM__PROVIDER=openai`,
`NEWSQA_STORE__CHROMA_HOST=127.0.0.1`. A TOML file named by `NEWSQA_CONFIG` (or `newsqa.toml` in
the working folder) may hold the same keys in sections: `[llm] provider = "ollama"`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource

from vectorstore.config import StoreSettings, WatchSettings, default_data_dir

from .errors import InvalidSettings


@dataclass
class HybridParams:
    """Fusion and reranking weights of hybrid retrieval (docs/retrieval.md: tuned on realtimeqa).

    Set as `retrieval.hybrid`: `NEWSQA_RETRIEVAL__HYBRID__DATE_WEIGHT=0.3`, or
    `[retrieval.hybrid]` in the TOML file.
    """

    candidates: int = 60  # fetched from each ranker
    rrf_k: int = 60
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    window_weight: float = 1.0  # weight of the rankings fetched inside the date window
    window_dense: bool = False  # also search Chroma inside the window (slower, and no better)
    rerank: bool = True
    match_weight: float = 0.3  # share of the question's names and numbers found in the passage
    title_weight: float = 0.2  # share of the question's content words found in the title
    date_weight: float = 0.5  # publication date within the window before the question date
    date_window: tuple[int, int] = (-1, 7)  # days before the question date (negative: after)
    date_decay: float = 14.0  # days over which the date prior fades outside the window
    article_weight: float = 0.0  # the fused scores of all the article's candidates, summed
    max_per_article: int | None = 3  # passages per article in the result (None: no limit)
    one_per_story: bool = True  # syndicated copies: only the best-ranked article of a story


class RetrievalSettings(BaseModel):
    """How passages are found and how many reach the model."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["dense", "hybrid"] = Field(
        default="hybrid",
        description="hybrid: Chroma and BM25 fused, then reranked (docs/retrieval.md); "
        "dense: Chroma only.",
    )
    k: int = Field(default=4, ge=1, le=20, description="Passages given to the model.")
    fetch_k: int = Field(default=20, ge=1, description="Candidates fetched before reranking.")
    paragraph_k: int = Field(
        default=6,
        ge=1,
        le=20,
        description="Passages, each from a different article, given for a summary, timeline or "
        "comparison question (qa/paragraph.py).",
    )
    min_score: float = Field(
        default=0.2, description="Dense similarity under which a passage is not worth showing."
    )
    context_chars: int = Field(
        default=400,
        ge=0,
        description="With context = passages, characters of each passage the model reads: its "
        "sentences that share the most words with the question, with their neighbours (0: the "
        "whole chunk).",
    )
    context: Literal["passages", "pool"] = Field(
        default="pool",
        description="What the model reads of the k passages. passages: each one cut to "
        "context_chars; pool: the sentences of all of them most like the question (embedding "
        "similarity), each with its neighbours, up to pool_chars in all; the model sees only the "
        "passages they come from, the reader's checks and the citations all k (qa/context.py).",
    )
    pool_chars: int = Field(
        default=1000,
        ge=200,
        description="Characters the model reads in all, headings included, with context = pool.",
    )
    pool_neighbours: int = Field(
        default=1,
        ge=0,
        le=3,
        description="With context = pool, the sentences shown on each side of a chosen one.",
    )
    headings: Literal["every", "once"] = Field(
        default="every",
        description="every: each passage the model reads is headed by its article's title, outlet "
        "and date; once: only an article's first passage is, and its others say which passage "
        "they share the article with, so more of the context is the articles' text.",
    )
    widen: bool = Field(
        default=True,
        description="With context = pool, when the reader finds no checked answer in the model's "
        "reply, ask once more over the passages (each cut to context_chars), the wider context; "
        'only for short-answer questions (docs/evaluation.md, "A wider second look").',
    )
    hybrid: HybridParams = Field(
        default_factory=HybridParams,
        description="Fusion and reranking weights of the hybrid mode (HybridParams).",
    )


class LLMSettings(BaseModel):
    """The chat model: the local default, or any LangChain chat model by settings alone."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["local", "openai", "ollama", "extractive"] = Field(
        default="local",
        description="local: bundled Qwen2.5 GGUF; openai: any OpenAI-compatible server; "
        "ollama: an Ollama server; extractive: quote the best source sentences, no model.",
    )
    local_model: Literal["qwen2.5-0.5b", "qwen2.5-1.5b"] = Field(
        default="qwen2.5-1.5b",
        description="Which bundled model the local provider runs (docs/models.md: on 200 "
        "realtimeqa questions the 1.5B answered 0.66 right, the 0.5B 0.54 in half the time).",
    )
    reader: Literal["answer-first", "classic"] = Field(
        default="answer-first",
        description="answer-first: the model names the short answer and its source, the answer's "
        "sentence is the passage's own (qa/reader.py); classic: the model writes the sentences, "
        "each checked against the passages (qa/cite.py).",
    )
    prompt: Literal["answer-first", "question-first"] = Field(
        default="answer-first",
        description="The answer-first reader's prompt. question-first: the question also before "
        "the sources, and a worked example that picks one name out of several "
        "(docs/evaluation.md compares the two).",
    )
    paragraph: Literal["model", "extractive", "off"] = Field(
        default="extractive",
        description="How a summary, timeline or comparison question is answered (qa/route.py): "
        "extractive: each on-topic article's sentence that best matches the question; model: the "
        "model writes the sentences, each checked against its passage (on 24 realtimeqa "
        "questions it cited fewer of the expected articles, 0.90 against 0.94, with fewer "
        "sentences supported, 0.87 against 0.96, in 32 s against 0.4: docs/evaluation.md); "
        "off: the short answer for every question.",
    )
    retry: bool = Field(
        default=False,
        description="Ask the model once more when its short answer restates the question, is of "
        "the wrong kind or is stated by no passage. Off: on 200 realtimeqa questions 48 retries "
        "(both models) gave no answer at all (docs/evaluation.md).",
    )
    ask_off_topic: bool = Field(
        default=False,
        description="Ask the model even when no retrieved passage is about the question (holds "
        "0.4 of its words, qa/reader.py): its reply is then always refused (off_topic), so by "
        "default the refusal comes at once, unasked. True only to measure that saving.",
    )
    model_path: Path | None = Field(
        default=None, description="A GGUF file to run instead of the bundled one."
    )
    model: str = Field(default="", description="Model name for openai/ollama providers.")
    base_url: str | None = Field(default=None, description="Server URL for openai/ollama.")
    api_key: str | None = Field(default=None, description="API key for the openai provider.")
    temperature: float = Field(default=0.0, description="Sampling temperature.")
    max_tokens: int = Field(default=160, description="Longest answer, in tokens.")
    context_tokens: int = Field(default=4096, description="Local model context window.")
    threads: int = Field(
        default_factory=lambda: os.cpu_count() or 2, description="CPU threads for the local model."
    )
    timeout: float = Field(default=120.0, description="Seconds to wait for a remote model.")


class UISettings(BaseModel):
    """The web UI: its login, the hosts it answers to, and how much a caller may send.

    The limits refuse what no person types (a 30 MB question, 200,000 outlets) with a clear
    message, before it reaches the model or the store; docs/ui.md, "Trust model".
    """

    model_config = ConfigDict(extra="forbid")

    auth: SecretStr | None = Field(
        default=None,
        description="USER:PASSWORD the UI asks for (several: one per line). From "
        "NEWSQA_UI__AUTH it stays out of `ps`, unlike --auth.",
    )
    auth_file: Path | None = Field(
        default=None, description="A file of USER:PASSWORD lines, read at start (--auth-file)."
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the UI answers to besides the address it is bound to (and "
        "localhost, 127.0.0.1, ::1 on loopback), e.g. the public name behind a reverse proxy. "
        "Any other Host header is refused: a web page that rebinds its name to this machine "
        "cannot drive the UI.",
    )
    login_attempts: int = Field(
        default=5, ge=1, description="Wrong logins from one client before it is locked out."
    )
    login_window: float = Field(
        default=60.0, gt=0, description="Seconds within which those wrong logins count."
    )
    login_lockout: float = Field(
        default=300.0, gt=0, description="Seconds a locked-out client's logins are refused."
    )
    max_question_chars: int = Field(default=2_000, ge=1, description="Longest question.")
    max_history_messages: int = Field(
        default=40,
        ge=2,
        description="Messages of a conversation kept (the chat) or accepted (/ask history_json).",
    )
    max_history_chars: int = Field(
        default=20_000, ge=1, description="Characters of those messages, all together."
    )
    max_chat_chars: int = Field(
        default=2_000_000,
        ge=1,
        description="Characters of the chat a browser sends back (the rendered answers); past it, "
        "the user is asked to start a new conversation.",
    )
    max_upload_bytes: int = Field(
        default=50_000_000,
        ge=1,
        description="Bytes of uploaded files one click of Ingest reads, all together; the files "
        "past it are skipped and reported.",
    )
    max_outlets: int = Field(default=100, ge=1, description="Outlets in one filter.")
    max_outlet_chars: int = Field(default=200, ge=1, description="Longest outlet name in a filter.")
    queue_size: int = Field(
        default=64,
        ge=1,
        description="Requests waiting for an answer before more are refused (with the local "
        "model: questions waiting for it, each shown its place).",
    )
    ask_wait: float = Field(
        default=120.0,
        ge=0,
        description="Seconds an /ask call waits for the local model while others are answered; "
        "then it fails with a busy error saying how many are ahead (retry later).",
    )
    upload_max_age: int = Field(
        default=3_600,
        ge=60,
        description="Seconds after which an upload never ingested is deleted (ingested ones are "
        "deleted at once).",
    )


class Settings(BaseSettings):
    """Everything configurable in newsqa, with its default."""

    # "forbid": a typo (`llm={"provdier": "ollama"}`, NEWSQA_LLM__PROVDIER) is an error naming
    # the key, not a silent run of the default.
    model_config = SettingsConfigDict(
        env_prefix="NEWSQA_", env_nested_delimiter="__", extra="forbid"
    )

    def __init__(self, **values) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise InvalidSettings(describe(exc)) from exc

    store: StoreSettings = Field(default_factory=StoreSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    ui: UISettings = Field(default_factory=UISettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)
    cache_dir: Path = Field(
        default_factory=lambda: default_data_dir() / "models",
        description="Where the local model file is assembled from its part packages.",
    )

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        toml = os.environ.get("NEWSQA_CONFIG") or "newsqa.toml"
        sources = [init_settings, env_settings]
        if Path(toml).is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)


_SECRET_WORDS = ("key", "auth", "header", "token", "password")  # their values are never echoed


def describe(exc: ValidationError) -> str:
    """One line per bad setting: its dotted name, what is wrong, and the names it could be."""
    lines = []
    for err in exc.errors():
        name = ".".join(str(part) for part in err["loc"])
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            known = _field_names(err["loc"][:-1])
            near = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(known)}"
            lines.append(f"unknown setting {name!r}{hint}")
        elif any(word in name for word in _SECRET_WORDS):
            lines.append(f"setting {name!r}: {err['msg']}")
        else:
            got = repr(err.get("input"))
            lines.append(f"setting {name!r}: {err['msg']} (got {got[:80]})")
    where = os.environ.get("NEWSQA_CONFIG") or "newsqa.toml"
    return "; ".join(lines) + f" (from arguments, NEWSQA_* variables or {where})"


def _field_names(path: tuple) -> list[str]:
    model: type = Settings
    for part in path:
        field = _fields(model).get(str(part))
        if field is None or not isinstance(field, type):
            return []
        model = field
    return sorted(_fields(model))


def _fields(model: type) -> dict[str, object]:
    """A settings model's or dataclass's field names and their types."""
    if dataclasses.is_dataclass(model):
        return {f.name: f.type for f in dataclasses.fields(model)}
    return {name: f.annotation for name, f in getattr(model, "model_fields", {}).items()}


def get_settings(settings: Settings | dict | None = None) -> Settings:
    """Resolve 'maybe settings' once per entry point: a Settings, a dict of overrides, or None."""
    if isinstance(settings, Settings):
        return settings
    return Settings(**(settings or {}))
