"""The LangChain runnable: question -> numbered sources -> prompt -> chat model -> cited answer."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableBranch, RunnableLambda, RunnablePassthrough

from vectorstore.chroma import store_errors
from vectorstore.embed import make_embeddings
from vectorstore.ingest.fetch import Fetcher
from vectorstore.ingest.load import load_sources
from vectorstore.store import NewsStore
from vectorstore.types import Article, Filters, IngestReport
from vectorstore.watch import Watcher, WatchList

from . import paragraph, reader
from .cite import is_refusal, verify
from .context import shown_sources
from .errors import InvalidQuestion
from .extract import extractive_answer
from .model_queue import ModelQueue
from .models import get_chat_model
from .prompts import (
    ANSWER_PROMPT,
    CANNOT_ANSWER,
    CONDENSE_PROMPT,
    PARAGRAPH_HINTS,
    PARAGRAPH_PROMPT,
    SHORT_PROMPTS,
    answer_inputs,
    history_lines,
    prompt_text,
)
from .retrieve import Retriever, make_retriever
from .route import ACROSS, FACT, KINDS, question_kind
from .settings import Settings, get_settings
from .types import Answer, Reprint, Source, web_url

History = Sequence[dict] | Sequence[tuple[str, str]] | None


class NewsQA:
    """The product's library surface: ingest sources, ask questions, list what is stored.

    Every part is a keyword argument with a default from settings, so tests can pass fakes.
    A store that cannot be reached raises StoreError, a model that cannot load ModelError; both
    name what failed and how to fix it, and neither leaves the object unusable once fixed.
    """

    def __init__(
        self,
        settings: Settings | dict | None = None,
        *,
        embeddings=None,
        chat_model: BaseChatModel | None = None,
        store: NewsStore | None = None,
        retriever: Retriever | None = None,
    ) -> None:
        self.settings = get_settings(settings)
        self.embeddings = embeddings or make_embeddings(self.settings.store)
        with store_errors(self.settings.store):
            self.store = store or NewsStore(self.settings.store, self.embeddings)
            self.retriever = retriever or make_retriever(self.store, self.settings.retrieval)
        self._chat_model = chat_model
        self._chain: Runnable | None = None
        # The local model answers one call at a time; a server with many users queues its
        # answers here, in order, to tell each user where they are (ui.py). Remote models and
        # the extractive reader need no turns: None.
        one_at_a_time = (
            getattr(chat_model, "one_at_a_time", False)
            if chat_model is not None
            else self.settings.llm.provider == "local"
        )
        self.model_queue: ModelQueue | None = ModelQueue() if one_at_a_time else None

    @property
    def chat_model(self) -> BaseChatModel | None:
        """Loaded on first use, so listing or ingesting never waits for the model."""
        if self._chat_model is None and self.settings.llm.provider != "extractive":
            self._chat_model = get_chat_model(self.settings)
        return self._chat_model

    # --- ingestion -------------------------------------------------------------------------
    def ingest(
        self,
        sources: Iterable[str],
        progress: bool | None = None,
        *,
        untrusted: bool = False,
        deadline: float | None = None,
        max_urls: int | None = None,
    ) -> IngestReport:
        """Load files, folders, URLs, feeds or JSON Lines and store them; bad input is reported.

        Args:
            untrusted: the request comes from a UI user, who is told one reason for every network
                failure (a refused address, a closed port and a timeout alike), so that the UI
                cannot map the network around the server; and who may fetch at most
                `store.max_urls_per_request` URLs in `store.ingest_deadline` seconds, because
                the UI ingests for one user at a time. A feed is read up to
                `store.max_feed_entries` entries either way. What an untrusted request uploads
                is stored as an upload, which cannot replace an article fetched from its URL
                or added by the operator (vectorstore/write.py).
            deadline, max_urls: an untrusted request's limits, when less than the settings'
                (the UI shares one click's limits among the items it ingests one by one).
        """
        st = self.settings.store
        limits = {
            "max_urls": min(st.max_urls_per_request, max_urls or st.max_urls_per_request),
            "deadline": min(st.ingest_deadline, deadline or st.ingest_deadline),
        }
        with store_errors(st):
            loaded = load_sources(
                sources,
                timeout=st.fetch_timeout,
                max_bytes=st.max_source_bytes,
                allow_private=st.allow_private_urls,
                uniform_errors=untrusted,
                max_feed_entries=st.max_feed_entries,
                **(limits if untrusted else {}),
            )
            return self.store.ingest(_stamped(loaded, untrusted), progress=progress)

    def watcher(self, every: float | None = None) -> Watcher:
        """A `Watcher` of the feeds in the settings' watch list (vectorstore/watch.py).

        Each poll fetches with the rules of `ingest`: a feed added from the UI with those of an
        untrusted request (one reason for every network failure, `store.ingest_deadline`).
        """
        st, w = self.settings.store, self.settings.watch

        def fetcher(untrusted: bool) -> Fetcher:
            return Fetcher(
                st.fetch_timeout,
                st.max_source_bytes,
                None,
                allow_private=st.allow_private_urls,
                uniform_errors=untrusted,
                deadline=st.ingest_deadline if untrusted else None,
            )

        def ingest(items) -> IngestReport:
            with store_errors(st):
                return self.store.ingest(_stamped(items, False), progress=False)

        return Watcher(
            self.watchlist,
            ingest,
            fetcher,
            st.max_feed_entries,
            every or w.every,
            w.max_backoff,
        )

    @property
    def watchlist(self) -> WatchList:
        w = self.settings.watch
        return WatchList(w.folder or self.settings.store.path / "watched-feeds", w.max_feeds)

    def close(self) -> None:
        """Let go of an embedded store, so that another process may open it."""
        self.store.close()

    def articles(self) -> list[dict]:
        """One row per stored article (id, title, source, published, url, chunks), newest first."""
        with store_errors(self.settings.store):
            return self.store.articles()

    def count(self) -> int:
        """How many chunks the store holds."""
        with store_errors(self.settings.store):
            return self.store.count()

    # --- answering -------------------------------------------------------------------------
    @property
    def chain(self) -> Runnable:
        """{"question", "filters", "question_date", "kind"} -> {... "sources", "answer"}
        (streams); `kind` (qa/route.py) picks the short answer or the paragraph across articles."""
        if self._chain is None:
            self._chain = RunnableLambda(self._retrieve).with_config(run_name="retrieve") | (
                RunnablePassthrough.assign(answer=self._generator())
            )
        return self._chain

    def _generator(self) -> Runnable:
        nothing_found = RunnableLambda(lambda _: CANNOT_ANSWER)
        if self.settings.llm.provider == "extractive":
            # Quote from the passages as a model would read them: no instruction is ever quoted.
            generate = RunnableLambda(
                lambda x: (
                    extractive_answer(
                        x["question"],
                        [s.model_copy(update={"text": prompt_text(s.text)}) for s in x["sources"]],
                        self._embed,
                    )
                    or CANNOT_ANSWER
                )
            )
        elif self.answer_first:
            # One line is the whole reply: stopping at its end saves the model's afterthoughts.
            generate = self._short_prompt | self.chat_model.bind(stop=["\n"]) | StrOutputParser()
        else:
            generate = ANSWER_PROMPT | self.chat_model | StrOutputParser()
        return RunnableBranch(
            (lambda x: not x["sources"], nothing_found),
            (lambda x: not x["worth_asking"], nothing_found),
            (lambda x: x.get("kind", FACT) in ACROSS, self._paragraph_generator()),
            generate,
        )

    def _paragraph_generator(self) -> Runnable:
        """The model's sentences across articles; "" where the passages alone make the paragraph."""
        if not self.model_paragraphs:
            return RunnableLambda(lambda _: "")
        hint = RunnableLambda(lambda x: {**x, "kind_hint": PARAGRAPH_HINTS[x["kind"]]})
        return hint | PARAGRAPH_PROMPT | self.chat_model | StrOutputParser()

    @property
    def model_paragraphs(self) -> bool:
        """Whether the model writes the paragraph (else qa/paragraph.py picks passage sentences)."""
        return self.settings.llm.provider != "extractive" and self.settings.llm.paragraph == "model"

    def question_kind(self, question: str) -> str:
        """fact, summary, timeline or comparison (qa/route.py); fact when paragraphs are off."""
        return FACT if self.settings.llm.paragraph == "off" else question_kind(question)

    @property
    def answer_first(self) -> bool:
        """Whether the answer-first reader (qa/reader.py) reads the model's reply."""
        return self.settings.llm.provider != "extractive" and self.settings.llm.reader == (
            "answer-first"
        )

    @property
    def _short_prompt(self):
        return SHORT_PROMPTS[self.settings.llm.prompt]

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return self.embeddings.embed_documents(texts)

    def _retrieve(self, inputs: dict) -> dict:
        r = self.settings.retrieval
        across = inputs.get("kind", FACT) in ACROSS
        with store_errors(self.settings.store):
            found = self.retriever.retrieve(
                inputs["question"],
                max(r.fetch_k, 3 * r.paragraph_k) if across else r.fetch_k,
                inputs.get("filters"),
                question_date=inputs.get("question_date"),
            )
        kept = [(d, s) for d, s in found if s >= r.min_score]
        if across:  # one passage an article: the paragraph is told from several
            seen: set[str] = set()
            kept = [
                (d, s)
                for d, s in kept
                if d.metadata["article_id"] not in seen and not seen.add(d.metadata["article_id"])
            ]
        kept = kept[: r.paragraph_k if across else r.k]
        sources = to_sources(kept)
        # A paragraph cites one passage an article: each is shown, cut to context_chars.
        context = "passages" if across else None
        shown = shown_sources(inputs["question"], sources, r, self._embed, context)
        # The passages the model reads are numbered first; the reader's checks and the
        # citations still have all of them.
        first = [s.n for s in shown]
        ranks = first + [s.n for s in sources if s.n not in first]
        kept = [kept[n - 1] for n in ranks]
        sources = to_sources(kept)
        shown = [
            s.model_copy(update={"text": t.text}) for s, t in zip(sources, shown, strict=False)
        ]
        with store_errors(self.settings.store):
            self._add_reprints(sources, [doc.metadata for doc, _ in kept])
        return {
            **inputs,
            **answer_inputs(inputs["question"], shown, r.headings, inputs.get("question_date")),
            "sources": sources,
            "ranks": ranks,  # each source's place in the retriever's order
            "worth_asking": self._worth_asking(inputs["question"], sources, inputs.get("kind")),
        }

    def _worth_asking(self, question: str, sources: list[Source], kind: str | None) -> bool:
        """False when no passage is about the question: the reader's topic check (qa/reader.py,
        qa/paragraph.py) would refuse any reply (`off_topic`), so the model is not asked."""
        if self.settings.llm.ask_off_topic:
            return True
        idf = getattr(self.retriever, "idf", None)  # as `_check` weighs the question's words
        if (kind or FACT) in ACROSS:
            return not self.model_paragraphs or bool(paragraph.about(question, sources, idf))
        return not self.answer_first or bool(reader.on_topic(question, sources, idf))

    def _add_reprints(self, sources: list[Source], metas: list[dict]) -> None:
        """Each passage's `also_reported`: the other articles of its story, from one query (none
        for an article stored before stories were kept, which has no `story`)."""
        members = self.store.story_members(m["story"] for m in metas if m.get("story"))
        for src, meta in zip(sources, metas, strict=True):
            src.also_reported = [
                Reprint(**{**m, "url": web_url(m["url"])})
                for m in members.get(meta.get("story"), [])
                if m["article_id"] != meta.get("article_id")
            ]

    def standalone_question(self, question: str, history: History) -> str:
        """The question rewritten to stand alone, using the conversation before it."""
        turns = history_lines(history)
        if not turns or self.chat_model is None:
            return question
        condense = CONDENSE_PROMPT | self.chat_model | StrOutputParser()
        rewritten = condense.invoke({"history": "\n".join(turns[-6:]), "question": question})
        rewritten = rewritten.strip().splitlines()[0].strip() if rewritten.strip() else ""
        # A small model sometimes answers instead of rewriting; keep the user's words then.
        if not rewritten or len(rewritten) > 3 * len(question) + 80:
            return question
        return rewritten

    def ask_stream(
        self,
        question: str,
        *,
        history: History = None,
        filters: Filters | dict | None = None,
        question_date: str | None = None,
        kind: str | None = None,
    ) -> Iterator[Answer]:
        """Partial answers as tokens arrive (done=False), then the verified answer (done=True).

        `kind` forces the path (fact, summary, timeline, comparison); None reads it from the
        question (qa/route.py).
        """
        question = question.strip()
        if not question:
            raise InvalidQuestion("the question is empty")
        if kind is not None and kind not in KINDS:
            raise InvalidQuestion(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
        timings: dict[str, float] = {}
        start = time.perf_counter()
        standalone = self.standalone_question(question, history)
        if history:
            timings["rewrite"] = time.perf_counter() - start
        # The kind is in the user's own words; the rewrite only brings the topic along.
        kind = kind or self.question_kind(question)
        short = self.answer_first and kind == FACT  # the reply is one `Answer:` line
        inputs = {
            "question": standalone,
            "filters": Filters.coerce(filters),
            "question_date": question_date,
            "kind": kind,
        }
        sources: list[Source] = []
        text = ""

        def partial(text: str, sources: list[Source]) -> Answer:
            return Answer(
                question=question,
                text=text,
                sources=sources,
                kind=kind,
                done=False,
                standalone_question=_if_changed(standalone, question),
            )

        t0 = time.perf_counter()
        prompt: dict = {}
        for part in self.chain.stream(inputs):
            if "sources" in part:
                sources = part["sources"]
                prompt = part
                timings["retrieve"] = time.perf_counter() - t0
            if part.get("answer"):
                if not text:
                    timings["first_token"] = time.perf_counter() - t0
                text += part["answer"]
                yield partial(reader.parse_line(text)[0] if short else text, sources)
        timings["generate"] = time.perf_counter() - t0 - timings.get("retrieve", 0.0)
        t1 = time.perf_counter()
        reading = self._check(standalone, text, sources, kind)
        timings["verify"] = time.perf_counter() - t1
        retry = short and self.settings.llm.retry
        if retry and reading.reason in reader.RETRY_REASONS:
            t2 = time.perf_counter()
            text += "\n" + self._retry(prompt, text, reading)
            reading = self._check(standalone, text.splitlines()[-1], sources, kind)
            timings["retry"] = time.perf_counter() - t2
        if short and prompt.get("worth_asking") and self.widens(reading):
            # The pooled sentences may have missed the answer: one more look, over the passages.
            t3 = time.perf_counter()
            sources, wide = self._wide_prompt(prompt)
            yield partial("", sources)  # the first reply's "none" is taken back meanwhile
            reply = ""
            messages = self._short_prompt.format_messages(**wide)
            for chunk in self.chat_model.stream(messages, stop=["\n"]):
                reply += StrOutputParser().invoke(chunk)
                if "\n" in reply.strip():
                    break
                yield partial(reader.parse_line(reply)[0], sources)
            reply = reply.strip().split("\n", 1)[0]
            text += "\n" + reply
            reading = self._check(standalone, reply, sources, kind)
            timings["widen"] = time.perf_counter() - t3
        timings["total"] = time.perf_counter() - start
        yield Answer(
            question=question,
            text=reading.text,
            short_answer=None if reading.refused else reading.short_answer,
            citations=reading.citations,
            sources=sources,
            refused=reading.refused,
            refusal_reason=reading.reason,
            kind=kind,
            raw_text=text,
            standalone_question=_if_changed(standalone, question),
            timings=timings,
        )

    def widens(self, reading: reader.Reading) -> bool:
        """Whether a short answer read from the pooled context is asked again, wider."""
        r = self.settings.retrieval
        return (
            r.widen
            and r.context == "pool"
            and reading.refused
            and reading.reason != reader.NOTHING_RETRIEVED
        )

    def _wide_prompt(self, prompt: dict) -> tuple[list[Source], dict]:
        """The sources in the retriever's order, renumbered, and the short prompt's inputs that
        show each one cut to `context_chars` (the "passages" context) instead of the pool."""
        by_rank = sorted(zip(prompt["ranks"], prompt["sources"], strict=True))
        sources = [s.model_copy(update={"n": i}) for i, (_, s) in enumerate(by_rank, start=1)]
        r = self.settings.retrieval
        shown = shown_sources(prompt["question"], sources, r, self._embed, "passages")
        date = prompt.get("question_date")
        return sources, answer_inputs(prompt["question"], shown, r.headings, date)

    def _retry(self, prompt: dict, reply: str, reading: reader.Reading) -> str:
        """Ask once more, as the next turn, saying what was wrong with the first short answer.

        The first turn is still in the local model's cache, so only the new turn is read.
        """
        messages = self._short_prompt.format_messages(
            question=prompt["question"],
            sources_text=prompt["sources_text"],
            date_line=prompt["date_line"],
        )
        messages += [AIMessage(reply.strip()), HumanMessage(reader.retry_request(reading))]
        return StrOutputParser().invoke(self.chat_model.invoke(messages, stop=["\n"]))

    def _check(
        self, question: str, text: str, sources: list[Source], kind: str = FACT
    ) -> reader.Reading:
        """The model's reply, checked against the question and the passages, with a reason."""
        idf = getattr(self.retriever, "idf", None)  # a retriever with a BM25 index has one
        if kind in ACROSS:
            raw = text if self.model_paragraphs else None
            return paragraph.compose(question, kind, raw, sources, self._embed, idf)
        if self.answer_first:
            return reader.read(question, text, sources, self._embed, idf)
        if not sources:
            return reader.Reading(CANNOT_ANSWER, None, [], True, reader.NOTHING_RETRIEVED)
        if is_refusal(text):
            return reader.Reading(CANNOT_ANSWER, None, [], True, reader.MODEL_REFUSED)
        verified, citations, refused = verify(text, sources, self._embed)
        return reader.Reading(
            verified, None, citations, refused, reader.UNSUPPORTED if refused else None
        )

    def ask(
        self,
        question: str,
        *,
        history: History = None,
        filters: Filters | dict | None = None,
        question_date: str | None = None,
        kind: str | None = None,
    ) -> Answer:
        """A short answer that cites the articles it came from, or a plain refusal; for a
        summary, timeline or comparison question, a paragraph citing several articles."""
        *_, final = self.ask_stream(
            question, history=history, filters=filters, question_date=question_date, kind=kind
        )
        return final


def to_sources(found: list[tuple[Document, float]]) -> list[Source]:
    """Retrieved chunks -> numbered sources [1]..[k], the only conversion out of LangChain types."""
    return [
        Source(
            n=i,
            chunk_id=doc.id or f"{doc.metadata['article_id']}:{doc.metadata.get('chunk', 0)}",
            article_id=doc.metadata["article_id"],
            title=doc.metadata.get("title", ""),
            source=doc.metadata.get("source", ""),
            published=doc.metadata.get("published", ""),
            url=web_url(doc.metadata.get("url")),
            text=doc.page_content,
            score=float(score),
            origin=doc.metadata.get("origin") or "operator",
        )
        for i, (doc, score) in enumerate(found, start=1)
    ]


def _if_changed(standalone: str, question: str) -> str | None:
    return standalone if standalone != question else None


def _stamped(items: Iterable, untrusted: bool) -> Iterator:
    """Loaded items, each article marked with what produced it (`Article.provenance`).

    A page fetched from a URL is "fetch:<url>" whoever asked for it; a file is an "upload" from
    the web UI, else the operator's. Only the file's name is kept: the card that shows it is for
    other people, who have no business with the server's folders.
    """
    for item in items:
        if isinstance(item, Article) and not item.provenance:
            if web_url(item.origin):
                item = replace(item, provenance=f"fetch:{item.url or item.origin}")
            else:
                name = Path(item.origin).name if item.origin else ""
                item = replace(item, provenance=f"{'upload' if untrusted else 'operator'}:{name}")
        yield item
