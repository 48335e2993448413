"""Fakes over mocks: a deterministic embedding and a chat model that answers from its sources.

The fake embedding hashes words into a vector (so passages sharing words with a question rank
first); the fake chat model answers with the source sentence that shares most words with the
question, marked with its [n], the way a good small model would.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from typing import ClassVar

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from qa.prompts import read_prompt

_WORD = re.compile(r"[a-z0-9]+")
_STOP = set(
    "the a an of to in on and for with what did does is was were who which how that "
    "this by at as from it its be are has have said".split()
)


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def new_words(sentence: str, question: str) -> str:
    """The sentence's longest run of words that the question does not hold: a fake reader's pick
    of the short answer ("... agreed with Baidu to use its mapping license" -> "to use its ...")."""
    asked = set(words(question))
    best: list[str] = []
    run: list[str] = []
    for token in sentence.rstrip(".!?").split() + [""]:
        bare = token.strip(",;:\"'()").lower()
        if token and bare not in asked:
            run.append(token.strip(",;:\"'()"))
            continue
        while run and run[-1].lower() in _STOP:
            run.pop()
        while run and run[0].lower() in _STOP:
            run.pop(0)
        if len(words(" ".join(run))) > len(words(" ".join(best))):
            best = run
        run = []
    return " ".join(best)


class FakeEmbeddings(Embeddings):
    """Hashed bag of words, normalised: deterministic and fast, with some real ranking signal."""

    dim = 512

    def _vector(self, text: str) -> list[float]:
        v = np.zeros(self.dim)
        for w in words(text):
            v[int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        norm = np.linalg.norm(v)
        return (v / norm if norm else v + 1 / np.sqrt(self.dim)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


class FakeChatModel(BaseChatModel):
    """Answers with the source sentence sharing most words with the question, plus its [n].

    It reads the prompt through `qa.prompts.read_prompt`, as the product lays it out, not by a
    pattern of its own. For a condense (rewrite) request it appends the previous user question,
    so a follow-up keeps its topic. `replies`, when given, are returned in order instead.
    """

    replies: list[str] = []
    calls: list[str] = []

    @property
    def _llm_type(self) -> str:
        return "fake"

    def respond(self, messages) -> str:
        self.calls.append(str(messages[-1].content))
        if self.replies:
            return self.replies.pop(0)
        asked = read_prompt(messages)
        if asked.kind == "condense":
            before = asked.asked_before
            return f"{asked.question} (about: {before[-1]})" if before else asked.question
        if asked.kind == "paragraph":
            return self.paragraph(asked)
        best, best_n, best_score = "", 0, 0
        for n, body in asked.sources:
            for sentence in re.split(r"(?<=[.!?])\s+", body):
                score = len(set(words(sentence)) & set(words(asked.question)))
                if score > best_score:
                    best, best_n, best_score = sentence.strip(), n, score
        short = asked.kind == "short"  # the answer-first reader's one line
        if best_score < 2:
            return "Answer: none" if short else "I can't answer that from these articles."
        if short:
            return f"Answer: {new_words(best, asked.question)} [{best_n}]"
        return f"{best} [{best_n}]"

    @staticmethod
    def paragraph(asked) -> str:
        """Each source's sentence sharing most words with the question, with its [n]."""
        sentences = []
        for n, body in asked.sources:
            scored = [
                (len(set(words(s)) & set(words(asked.question))), s.strip())
                for s in re.split(r"(?<=[.!?])\s+", body)
            ]
            score, best = max(scored, default=(0, ""))
            if score >= 1:
                sentences.append(f"{best.rstrip('.')} [{n}].")
        return " ".join(sentences) or "I can't answer that from these articles."

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.respond(messages)))])

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        for token in re.findall(r"\S+\s*", self.respond(messages)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=token))


class SlowChatModel(FakeChatModel):
    """The fake chat model at the local model's pace: one call at a time, so users queue for it.

    Like `LocalChatModel` it is `one_at_a_time` (NewsQA gives it a ModelQueue). Each call first
    takes a permit from `gate`, when one is given (the test releases them), then sleeps `delay`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    one_at_a_time: ClassVar[bool] = True
    delay: float = 0.0
    gate: threading.Semaphore | None = None

    def respond(self, messages) -> str:
        if self.gate is not None:
            self.gate.acquire()
        time.sleep(self.delay)
        return super().respond(messages)
